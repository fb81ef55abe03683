"""What every account-scoped operation of the management API shares: the account in its path, and who acts."""

from automation.queries.accounts import account_of
from automation.services.actor import Actor
from automation.services.errors import NotFound


class AccountScoped:
    """Resolves {account_id} for a member; anyone else gets 404 so account ids do not leak."""

    def get_account(self):
        if not hasattr(self, "_account"):
            account = account_of(self.request.user, self.kwargs["account_id"])
            if account is None:
                account_id = self.kwargs["account_id"]
                raise NotFound(f"Automation account {account_id} was not found, or you are not a member of it.")
            self._account = account
        return self._account

    def actor(self) -> Actor:
        return Actor.from_request(self.request, via="api")
