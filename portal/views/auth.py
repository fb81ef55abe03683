from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def form_invalid(self, form):
        # A wrong login is the client's error: say so with a 4xx, not a 200 that looks like success.
        response = super().form_invalid(form)
        response.status_code = 400
        return response
