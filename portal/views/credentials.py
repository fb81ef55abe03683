"""The Credentials blade (Shared resources): a user name everyone in the account sees, a password no page shows."""

from automation.models import Credential
from automation.queries import credentials as queries
from automation.services import credentials as services
from portal.asset_forms import CredentialAddForm, CredentialPropertiesForm
from portal.views.assets import AssetBlade


def _run_as_of(credential) -> str | None:
    groups = list(credential.run_as_groups.order_by("name").values_list("name", flat=True))
    if not groups:
        return None
    return (
        f"it is the Run as credential of hybrid worker group(s) {', '.join(groups)}: "
        "set their Run as to Default or another credential first."
    )


blade = AssetBlade(Credential, services, queries, CredentialAddForm, CredentialPropertiesForm)
credentials, add, credential, _ = blade.views()
delete = blade.delete_view(blocked=_run_as_of)
