from django import forms
from django.contrib import admin, messages
from django.db.models import Max
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html

from automation import tasks
from automation.models import (
    AccountKey,
    ApiToken,
    AuditEvent,
    AutomationAccount,
    Certificate,
    Connection,
    ConnectionType,
    Credential,
    HybridWorker,
    HybridWorkerGroup,
    Job,
    Membership,
    Notification,
    NotificationReceipt,
    Runbook,
    RunbookVersion,
    Variable,
)
from automation.services.actor import Actor
from automation.services.tokens import revoke_token
from automation.services.workers import remove_worker


class ReadOnlyAdmin(admin.ModelAdmin):
    """Support staff look here; changes go through the portal, whose services check and audit them.

    The few actions each declare a permission of their own (the model permission they stand for), so
    a staff member who may only view is neither offered one nor able to run it by posting its name.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AnnouncementForm(forms.Form):
    title = forms.CharField(max_length=200)
    message = forms.CharField(widget=forms.Textarea, required=False)
    level = forms.ChoiceField(choices=Notification.Level.choices, initial=Notification.Level.INFO)


@admin.register(AutomationAccount)
class AutomationAccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "id", "region", "created_at", "created_by"]
    list_filter = ["region", "created_at"]
    search_fields = ["name", "id", "memberships__user__username"]
    readonly_fields = ["id", "created_at", "created_by"]
    inlines = [MembershipInline]
    actions = ["announce"]

    def has_announce_permission(self, request):
        return request.user.has_perm("automation.add_notification")

    @admin.action(description="Send a notification to every member", permissions=["announce"])
    def announce(self, request, queryset):
        form = AnnouncementForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for account in queryset:
                tasks.announce_to_account.delay(str(account.pk), **form.cleaned_data)
            self.message_user(request, f"Queued a notification for {queryset.count()} account(s).", messages.SUCCESS)
            return None
        return render(
            request,
            "admin/automation/announce.html",
            {"form": form, "accounts": queryset, "action": "announce", **self.admin_site.each_context(request)},
        )


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "account__name"]
    list_select_related = ["user", "account"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["title", "account", "recipient", "level", "state", "created_at"]
    list_filter = ["level", "state", "created_at"]
    search_fields = ["title", "message", "account__name", "recipient__username"]
    list_select_related = ["account", "recipient"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(NotificationReceipt)
class NotificationReceiptAdmin(ReadOnlyAdmin):
    list_display = ["notification", "user", "read_at", "dismissed"]
    list_filter = ["dismissed"]
    search_fields = ["user__username", "notification__title"]
    list_select_related = ["notification", "user"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "target_name", "account", "source_ip"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_name", "action", "target_name", "account__name", "source_ip"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"


@admin.register(AccountKey)
class AccountKeyAdmin(ReadOnlyAdmin):
    # The ciphertext is never listed: Owners see keys on the Keys blade, where each reveal is audited.
    list_display = ["account", "slot", "regenerated_at"]
    fields = ["account", "slot", "regenerated_at"]
    list_filter = ["slot"]
    search_fields = ["account__name"]
    list_select_related = ["account"]


@admin.register(HybridWorkerGroup)
class HybridWorkerGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "account", "run_as_credential", "created_at", "created_by", "deleting_since"]
    list_filter = ["created_at"]
    search_fields = ["name", "account__name", "id"]
    list_select_related = ["account", "run_as_credential"]


@admin.register(HybridWorker)
class HybridWorkerAdmin(ReadOnlyAdmin):
    list_display = ["name", "group", "account", "ip", "os", "version", "last_seen_at", "registered_at"]
    list_filter = ["version", "os"]
    search_fields = ["name", "machine_id", "ip", "group__name", "account__name", "id"]
    list_select_related = ["group", "account"]
    # The credential hash stays out of sight; the lookup id is enough to match a log line.
    fields = [
        "id",
        "name",
        "group",
        "account",
        "machine_id",
        "credential_id",
        "registered_at",
        "last_seen_at",
        "capacity",
        "os",
        "ip",
        "version",
        "facts",
    ]
    actions = ["remove"]

    def has_remove_permission(self, request):
        return request.user.has_perm("automation.delete_hybridworker")

    @admin.action(description="Remove the selected workers (their credentials stop working)", permissions=["remove"])
    def remove(self, request, queryset):
        # Support staff act across accounts: a system actor, recorded under the staff member's name.
        actor = Actor(user=request.user, ip=request.META.get("REMOTE_ADDR"), system=True)
        workers = list(queryset.select_related("account"))
        for worker in workers:
            remove_worker(account=worker.account, worker_id=worker.pk, actor=actor)
        self.message_user(request, f"Removed {len(workers)} worker(s).", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "lookup", "created_at", "expires_at", "last_used_at"]
    fields = ["name", "user", "lookup", "created_at", "expires_at", "last_used_at"]
    search_fields = ["name", "user__username", "lookup"]
    list_select_related = ["user"]
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("automation.delete_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = Actor(user=request.user, ip=request.META.get("REMOTE_ADDR"), system=True)
        tokens = list(queryset.select_related("user"))
        for token in tokens:
            revoke_token(user=token.user, token_id=token.pk, actor=actor)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


def _jobs_link(text: str, **lookups) -> str:
    query = "&".join(f"{name}={value}" for name, value in lookups.items())
    return format_html('<a href="{}?{}">{}</a>', reverse("admin:automation_job_changelist"), query, text)


@admin.register(Runbook)
class RunbookAdmin(ReadOnlyAdmin):
    list_display = ["name", "account", "runbook_type", "latest_version", "retries", "updated_at", "jobs"]
    list_filter = ["runbook_type", ("account", admin.RelatedOnlyFieldListFilter), "updated_at"]
    search_fields = ["name", "description", "account__name", "id"]
    list_select_related = ["account"]
    fields = [
        "id",
        "name",
        "account",
        "runbook_type",
        "description",
        "parameters",
        "retries",
        "timeout_seconds",
        "draft",
        "created_at",
        "created_by",
        "updated_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(latest_number=Max("versions__number"))

    @admin.display(description="Latest version", ordering="latest_number")
    def latest_version(self, runbook):
        return runbook.latest_number

    @admin.display(description="Jobs")
    def jobs(self, runbook):
        return _jobs_link("Jobs", runbook__id__exact=runbook.pk)


@admin.register(RunbookVersion)
class RunbookVersionAdmin(ReadOnlyAdmin):
    list_display = ["runbook_name", "number", "account", "runbook_type", "sha256", "published_at", "published_by"]
    list_filter = ["runbook_type", ("runbook__account", admin.RelatedOnlyFieldListFilter), "published_at"]
    search_fields = ["runbook__name", "runbook__account__name", "sha256", "id"]
    list_select_related = ["runbook__account"]
    fields = [
        "id",
        "runbook",
        "number",
        "runbook_type",
        "sha256",
        "parameters",
        "published_at",
        "published_by",
        "content",
    ]

    @admin.display(description="Runbook", ordering="runbook__name")
    def runbook_name(self, version):
        return version.runbook.name

    @admin.display(description="Account", ordering="runbook__account__name")
    def account(self, version):
        return version.runbook.account


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    # Secret parameters stay out: `parameters` holds them masked, and the encrypted values (until the job
    # ends) are for the runbook alone. The lease is the holding worker's business.
    list_display = [
        "id",
        "runbook_name",
        "status",
        "account",
        "group_name",
        "worker_name",
        "attempt",
        "is_test",
        "started_by",
        "created_at",
        "ended_at",
    ]
    list_filter = [
        "status",
        "is_test",
        ("account", admin.RelatedOnlyFieldListFilter),
        ("worker", admin.RelatedOnlyFieldListFilter),
        ("runbook", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    # Names are kept as text on the job, so a search also finds jobs of deleted runbooks and workers.
    search_fields = ["=id", "runbook_name", "group_name", "worker_name", "account__name", "started_by"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "account",
        "runbook",
        "runbook_name",
        "version",
        "version_number",
        "is_test",
        "group",
        "group_name",
        "worker",
        "worker_name",
        "status",
        "status_reason",
        "parameters",
        "timeout_seconds",
        "attempt",
        "retries_left",
        "started_by",
        "parent",
        "created_at",
        "queued_at",
        "claimed_at",
        "pickup_ms",
        "started_at",
        "stop_requested_at",
        "ended_at",
        "exit_code",
        "test_snapshot",
    ]


# ---- Shared resources: what Readers see, never a secret. The sealed_* columns (even as ciphertext) are in
# no list, no form and no search: a field list is named for each, so a new column is not shown by default.

_ASSET_STAMPS = ["created_at", "created_by", "updated_at", "updated_by"]


class AssetAdmin(ReadOnlyAdmin):
    list_select_related = ["account"]
    search_fields = ["name", "description", "account__name", "=id"]
    list_filter = [("account", admin.RelatedOnlyFieldListFilter), "updated_at"]


@admin.register(Variable)
class VariableAdmin(AssetAdmin):
    list_display = ["name", "account", "encrypted", "updated_at", "updated_by"]
    list_filter = ["encrypted", *AssetAdmin.list_filter]
    fields = ["id", "account", "name", "description", "encrypted", "shown_value", *_ASSET_STAMPS]
    readonly_fields = ["shown_value"]

    @admin.display(description="Value")
    def shown_value(self, variable):
        # Azure's rule: an encrypted value is never shown again, to anyone.
        return "(encrypted)" if variable.encrypted else variable.value


@admin.register(Credential)
class CredentialAdmin(AssetAdmin):
    list_display = ["name", "account", "username", "updated_at", "updated_by"]
    search_fields = [*AssetAdmin.search_fields, "username"]
    fields = ["id", "account", "name", "description", "username", *_ASSET_STAMPS]


@admin.register(Certificate)
class CertificateAdmin(AssetAdmin):
    list_display = ["name", "account", "thumbprint", "expiry_time", "exportable", "has_private_key"]
    list_filter = ["exportable", "has_private_key", "expiry_time", *AssetAdmin.list_filter]
    search_fields = [*AssetAdmin.search_fields, "thumbprint", "subject"]
    fields = [
        "id",
        "account",
        "name",
        "description",
        "thumbprint",
        "subject",
        "issuer",
        "not_before",
        "expiry_time",
        "has_private_key",
        "exportable",
        "expiry_notified",
        *_ASSET_STAMPS,
    ]


@admin.register(ConnectionType)
class ConnectionTypeAdmin(AssetAdmin):
    list_display = ["name", "account", "is_builtin", "updated_at"]
    list_filter = ["is_builtin", *AssetAdmin.list_filter]
    fields = ["id", "account", "name", "description", "is_builtin", "fields", *_ASSET_STAMPS]


@admin.register(Connection)
class ConnectionAdmin(AssetAdmin):
    list_display = ["name", "account", "connection_type", "updated_at"]
    list_select_related = ["account", "connection_type"]
    # `values` holds the plain fields only; the encrypted ones are sealed apart.
    fields = ["id", "account", "name", "description", "connection_type", "values", *_ASSET_STAMPS]
