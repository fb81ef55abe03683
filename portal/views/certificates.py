"""The Certificates blade (Shared resources): what a certificate says about itself and when it expires; its
content and private key stay sealed."""

from django.utils import timezone

from automation.models import Certificate
from automation.queries import certificates as queries
from automation.services import certificates as services
from portal.asset_forms import CertificateAddForm, CertificatePropertiesForm
from portal.views.assets import AssetBlade

# Within this many days of its expiry a certificate is flagged, as its Owners' first notice says.
WARN_DAYS = max(services.NOTICE_DAYS)


def _decorate(rows: list[Certificate]) -> None:
    now = timezone.now()
    for row in rows:
        left = row.expiry_time - now
        row.expired = left.total_seconds() <= 0
        row.days_left = left.days
        row.expires_soon = not row.expired and left.days < WARN_DAYS


blade = AssetBlade(Certificate, services, queries, CertificateAddForm, CertificatePropertiesForm, decorate=_decorate)
certificates, add, certificate, delete = blade.views()
