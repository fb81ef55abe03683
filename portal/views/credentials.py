"""The Credentials blade (Shared resources): a user name everyone in the account sees, a password no page shows."""

from automation.models import Credential
from automation.queries import credentials as queries
from automation.services import credentials as services
from portal.asset_forms import CredentialAddForm, CredentialPropertiesForm
from portal.views.assets import AssetBlade

blade = AssetBlade(Credential, services, queries, CredentialAddForm, CredentialPropertiesForm)
credentials, add, credential, delete = blade.views()
