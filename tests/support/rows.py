"""A world that grows: some of every row a page or an API list shows, through the services, so the
query-count tests can ask each page and list the same thing with few rows and with many."""

from django.contrib.auth import get_user_model

from automation.models import Role
from automation.services import jobs as job_services
from automation.services.accounts import add_member, create_account
from automation.services.actor import Actor
from automation.services.certificates import create_certificate
from automation.services.connections import create_connection, create_connection_type
from automation.services.credentials import create_credential
from automation.services.groups import set_group_run_as
from automation.services.notifications import create_notification
from automation.services.runbooks import publish_runbook, update_draft
from automation.services.tokens import create_token
from automation.services.variables import create_variable
from tests.support.assets import MadeCertificate
from tests.support.builders import SYSTEM, make_group, make_runbook, make_worker, start

SERVICE_PRINCIPAL = {
    "ApplicationId": "app",
    "TenantId": "tenant",
    "CertificateThumbprint": "AB",
    "SubscriptionId": "sub",
}


class GrowingWorld:
    """The people's account with runbook "hello" (published), group "lab" whose worker web-01 holds a
    job and a Test pane run of "hello", and empty group "dmz". `grow(n)` adds, up to n of each: groups,
    workers in "lab", runbooks, versions of "hello", queued jobs (children of the held job), stream records of
    both held jobs, members, the owner's API tokens, notifications, accounts the owner belongs to, and shared
    resources: variables, credentials, certificates, connection types and connections (besides variable
    "Region", credential "Deployer", certificate "Signing", connection "Orders" and the unused connection type
    "Unused")."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        self.owner = Actor(user=people.owner)
        self.runbook = make_runbook(self.account, "hello")
        self.worker = make_worker(self.account, "web-01", "lab", machine_id="machine-0000", facts={"capacity": 2})
        self.group = self.worker.group
        self.empty_group = make_group(self.account, "dmz")
        self.job = start(self.account, "hello", "lab", actor=self.owner)
        self.test_job = job_services.start_test(runbook=self.runbook, group_name="lab", actor=self.owner)
        held = {job.pk: str(job.lease_id) for job in job_services.claim_jobs(worker=self.worker, limit=2)}
        assert held.keys() == {self.job.pk, self.test_job.pk}
        self.leases = held
        self.certificate_file = MadeCertificate().der
        account = self.account
        self.variable = create_variable(account=account, name="Region", value="westeurope", actor=SYSTEM)
        self.credential = create_credential(
            account=account, name="Deployer", username="svc", password="pw", actor=SYSTEM
        )
        self.certificate = create_certificate(
            account=account, name="Signing", content=self.certificate_file, actor=SYSTEM
        )
        self.connection_type = create_connection_type(
            account=account, name="Unused", fields=[{"name": "Host", "type": "string"}], actor=SYSTEM
        )
        self.connection = create_connection(
            account=account,
            name="Orders",
            connection_type="AzureServicePrincipal",
            values=SERVICE_PRINCIPAL,
            actor=SYSTEM,
        )
        self.size = 0

    def grow(self, n: int) -> None:
        for i in range(self.size, n):
            self._add(i)
        self.size = n

    def _add(self, i: int) -> None:
        account = self.account
        make_group(account, f"g-{i:02}")
        make_worker(account, f"w-{i:02}", "lab", machine_id=f"machine-{i + 1:04}")
        make_runbook(account, f"rb-{i:02}", content="echo", publish=bool(i % 2))
        update_draft(runbook=self.runbook, content=f"echo {i}", actor=SYSTEM)
        publish_runbook(runbook=self.runbook, actor=SYSTEM)
        # Queued jobs that web-01's held job started: the lists and blades show their parent and children too.
        job_services.start_child_job(parent=self.job, runbook_name="hello", worker=self.worker)
        for job, prefix in ((self.job, "line"), (self.test_job, "test-line")):
            records = job_services.checked_records([{"seq": i, "stream": "output", "text": f"{prefix}-{i:02}"}])
            job_services.append_records(worker=self.worker, job_id=job.pk, lease=self.leases[job.pk], records=records)
        get_user_model().objects.create_user(username=f"m-{i:02}", password=None)
        add_member(account=account, username=f"m-{i:02}", role=Role.READER, actor=SYSTEM)
        create_token(user=self.people.owner, name=f"t-{i:02}", expires_days=None, actor=SYSTEM)
        create_notification(account=account, title=f"note-{i:02}")
        create_account(name=f"acct-{i:02}", owner=self.people.owner, actor=SYSTEM)
        create_variable(account=account, name=f"var-{i:02}", value={"i": i}, encrypted=bool(i % 2), actor=SYSTEM)
        create_credential(account=account, name=f"cred-{i:02}", username=f"user-{i}", password="pw", actor=SYSTEM)
        # Group lists and blades show each group's Run as credential: read with the groups, not one by one.
        set_group_run_as(account=account, group_name=f"g-{i:02}", credential_name=f"cred-{i:02}", actor=SYSTEM)
        create_certificate(account=account, name=f"cert-{i:02}", content=self.certificate_file, actor=SYSTEM)
        fields = [{"name": "Url", "type": "string"}, {"name": "Key", "type": "string", "encrypted": True}]
        create_connection_type(account=account, name=f"ct-{i:02}", fields=fields, actor=SYSTEM)
        values = {"Url": f"https://{i}.test", "Key": "k"}
        create_connection(
            account=account, name=f"conn-{i:02}", connection_type=f"ct-{i:02}", values=values, actor=SYSTEM
        )
