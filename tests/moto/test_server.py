"""tests/moto/server.py's Cognito identity patch, against the patched server:
a user's identity is the same at each sign-in, each identity has credentials
of its own, and the registry says whose they are. The browser tests of
issue 21 stand on this."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import boto3

HERE = Path(__file__).parent
ADMIN = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


class CognitoIdentityPatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cls.dir = tempfile.TemporaryDirectory()
        cls.registry = Path(cls.dir.name) / "identities.json"
        env = {**os.environ, "ATTACH_IOT_POLICY_IDENTITIES": str(cls.registry)}
        cls.server = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cls.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{cls.url}/moto-api/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait(timeout=10)
        cls.dir.cleanup()

    def client(self, service):
        return boto3.client(service, endpoint_url=self.url, **ADMIN)

    def test_a_users_identity_is_the_same_at_each_sign_in_and_has_credentials_of_its_own(self):
        idp, identity = self.client("cognito-idp"), self.client("cognito-identity")
        pool = idp.create_user_pool(PoolName="app")["UserPool"]["Id"]
        app = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", ExplicitAuthFlows=["USER_PASSWORD_AUTH"])
        client_id = app["UserPoolClient"]["ClientId"]
        provider = f"cognito-idp.us-east-1.amazonaws.com/{pool}"
        ids = identity.create_identity_pool(
            IdentityPoolName="app",
            AllowUnauthenticatedIdentities=True,
            CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}],
        )["IdentityPoolId"]

        def sign_in(name):
            try:
                idp.admin_create_user(UserPoolId=pool, Username=name)
                idp.admin_set_user_password(UserPoolId=pool, Username=name, Password="Passw0rd!", Permanent=True)
            except idp.exceptions.UsernameExistsException:
                pass
            tokens = idp.initiate_auth(
                ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": name, "PASSWORD": "Passw0rd!"}
            )["AuthenticationResult"]
            logins = {provider: tokens["IdToken"]}
            identity_id = identity.get_id(IdentityPoolId=ids, Logins=logins)["IdentityId"]
            credentials = identity.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)["Credentials"]
            sub = idp.admin_get_user(UserPoolId=pool, Username=name)["UserAttributes"]
            return identity_id, credentials, next(a["Value"] for a in sub if a["Name"] == "sub")

        mat, mat_credentials, mat_sub = sign_in("mat")
        again, again_credentials, _ = sign_in("mat")
        ana, ana_credentials, _ = sign_in("ana")
        guest = identity.get_id(IdentityPoolId=ids)["IdentityId"]
        self.assertEqual(mat, again, "the same user signs in to the same identity")
        self.assertNotIn(ana, [mat, guest])
        self.assertEqual(mat_credentials["AccessKeyId"], again_credentials["AccessKeyId"])
        self.assertNotEqual(mat_credentials["AccessKeyId"], ana_credentials["AccessKeyId"])
        self.assertNotEqual(mat_credentials["SecretKey"], ana_credentials["SecretKey"])
        self.assertNotEqual(mat_credentials["SessionToken"], ana_credentials["SessionToken"])

        registry = json.loads(self.registry.read_text())
        entry = registry[mat_credentials["AccessKeyId"]]
        self.assertEqual(
            entry,
            {
                "identityId": mat,
                "secretAccessKey": mat_credentials["SecretKey"],
                "sessionToken": mat_credentials["SessionToken"],
                "identityPoolId": ids,
                "userPool": provider,
                "sub": mat_sub,
            },
        )


if __name__ == "__main__":
    unittest.main()
