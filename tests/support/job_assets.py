"""A world where a job runs and reads its account's shared resources, for the job-side tests (service and agent API).

Account A (people.account): runbook "parent" (bash) and "child" (python3, declaring `who` and a secret `token`),
both published, "draft-only" never published; group "lab" with workers web-01 and web-02, group "other" with
db-01; a plain variable "Region", an encrypted one "DbPassword" (a string) and "Limits" (an object), a credential
"Admin", a connection type "Database" (Server plain, Password encrypted) and its connection "OrdersDb", an
exportable certificate "WebCert" (a .pfx with its key) and "PublicCert" (not exportable).
Account B (people.other_account): the same names with other values, and its own worker b-01.
"""

from automation.models import Job
from automation.services import jobs as job_services
from automation.services.certificates import create_certificate
from automation.services.connections import create_connection, create_connection_type
from automation.services.credentials import create_credential
from automation.services.variables import create_variable
from tests.support.assets import SYSTEM, MadeCertificate
from tests.support.builders import make_runbook, register

# Every secret value of the world: none may appear anywhere but in what a job reads.
DB_PASSWORD = "Db-Pa55word-4711"
LIMITS = {"cpu": 4, "key": "Limits-Secret-0815"}
ADMIN_PASSWORD = "Admin-Pa55word-0042"
CONN_PASSWORD = "Conn-Pa55word-9000"
OTHER_SECRET = "Other-Account-Secret-1234"
SECRETS = (DB_PASSWORD, LIMITS["key"], ADMIN_PASSWORD, CONN_PASSWORD, OTHER_SECRET)
CHILD_DECLARED = [
    {"name": "who", "type": "string", "required": True},
    {"name": "token", "type": "secret", "required": False},
]


def _assets(account, *, region: str, db_password: str, admin_password: str, conn_password: str, made) -> None:
    create_variable(account=account, name="Region", value=region, actor=SYSTEM)
    create_variable(account=account, name="DbPassword", value=db_password, encrypted=True, actor=SYSTEM)
    create_variable(account=account, name="Limits", value=LIMITS, encrypted=True, actor=SYSTEM)
    create_credential(
        account=account, name="Admin", username="CONTOSO\\svc-runbooks", password=admin_password, actor=SYSTEM
    )
    create_connection_type(
        account=account,
        name="Database",
        fields=[{"name": "Server", "type": "string"}, {"name": "Password", "type": "string", "encrypted": True}],
        actor=SYSTEM,
    )
    create_connection(
        account=account,
        name="OrdersDb",
        connection_type="Database",
        values={"Server": f"sql.{region}.contoso.test", "Password": conn_password},
        actor=SYSTEM,
    )
    create_certificate(
        account=account,
        name="WebCert",
        content=made.pfx("pfx-pw-1"),
        password="pfx-pw-1",
        exportable=True,
        actor=SYSTEM,
    )
    create_certificate(account=account, name="PublicCert", content=made.der, exportable=False, actor=SYSTEM)


class JobAssetsWorld:
    def __init__(self, people):
        self.people = people
        self.account = people.account
        self.other = people.other_account
        self.made = MadeCertificate("jobs.contoso.test")
        for account in (self.account, self.other):
            make_runbook(account, "parent", content="echo parent")
            make_runbook(account, "child", runbook_type="python3", content="print('child')", parameters=CHILD_DECLARED)
        make_runbook(self.account, "draft-only", publish=False)
        self.workers, self.creds = {}, {}
        for account, group, name in [
            (self.account, "lab", "web-01"),
            (self.account, "lab", "web-02"),
            (self.account, "other", "db-01"),
            (self.other, "b-lab", "b-01"),
        ]:
            registration = register(account, name, group, machine_id=f"machine-{name}", facts={"capacity": 4})
            self.workers[name], self.creds[name] = registration.worker, registration.credential
        _assets(
            self.account,
            region="westeurope",
            db_password=DB_PASSWORD,
            admin_password=ADMIN_PASSWORD,
            conn_password=CONN_PASSWORD,
            made=self.made,
        )
        _assets(
            self.other,
            region="b-region",
            db_password=OTHER_SECRET,
            admin_password=OTHER_SECRET,
            conn_password=OTHER_SECRET,
            made=MadeCertificate("other.fabrikam.test"),
        )

    def held(self, name: str = "web-01", group: str = "lab", account=None) -> Job:
        """A job of "parent" claimed by worker `name` (Activating: claimed, its runbook starting)."""
        account = account or self.account
        job = job_services.start_job(account=account, runbook_name="parent", group_name=group, actor=SYSTEM)
        (claimed,) = job_services.claim_jobs(worker=self.workers[name], limit=1)
        assert claimed.pk == job.pk
        return claimed

    def running(self, name: str = "web-01", group: str = "lab", account=None) -> Job:
        """A job of "parent" that worker `name` runs (its first record sent)."""
        job = self.held(name, group, account)
        records = job_services.checked_records([{"seq": 0, "stream": "output", "text": "started"}])
        return job_services.append_records(
            worker=self.workers[name], job_id=job.pk, lease=job.lease_id, records=records
        )

    def finish(self, job: Job, name: str = "web-01", status: str = "Completed", output=()) -> Job:
        records = job_services.checked_records(
            [{"seq": 100 + i, "stream": "output", "text": text} for i, text in enumerate(output)]
        )
        return job_services.finish_job(
            worker=self.workers[name], job_id=job.pk, lease=job.lease_id, status=status, records=records
        )
