"""moto_server, patched where moto answers differently from AWS in ways the
tests depend on. Arguments are moto_server's.

- An IoT request with an empty body, such as ListTargetsForPolicy, is
  signed over the empty payload (moto checks its parsed query instead, and
  answers SignatureDoesNotMatch to a correct signature).
- AdminDeleteUserAttributes of an attribute the user does not have is not an
  error, as in AWS (moto answers InvalidParameterException).
- Cognito identity pools, as AWS: GetId with a user pool's ID token in
  Logins gives that user's identity, the same one each time (moto ignores
  Logins), and each identity gets credentials of its own (moto hands every
  identity the same). When ATTACH_IOT_POLICY_IDENTITIES names a file, each
  identity's credentials, pool, provider and sub are written there, keyed by
  access key ID, for a stand-in for API Gateway's IAM authorization to read.
- DeletePolicy after a detach, as AWS may: when
  ATTACH_IOT_POLICY_DELETE_CONFLICT_SECONDS is set, IoT refuses to delete a
  policy with DeleteConflictException for that many seconds after its last
  detach ("never": for good). AWS documents up to five minutes; moto deletes
  at once.
"""
import base64
import datetime
import hashlib
import json
import os
import sys
import time

from moto import server
from moto.cognitoidentity import responses as cognitoidentity
from moto.cognitoidp import models as cognitoidp
from moto.iam import access_control
from moto.iot import exceptions as iot_exceptions
from moto.iot import models as iot

_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _create_aws_request_over_the_payload(self):
    request = _create_aws_request(self)
    if self._service == "iot" and not self._body:
        request.data = b""
    return request


access_control.IAMRequestBase._create_aws_request = _create_aws_request_over_the_payload

_delete_attributes = cognitoidp.CognitoIdpUser.delete_attributes


def _delete_present_attributes(self, attrs_to_delete):
    present = cognitoidp.flatten_attrs(self.attributes)
    _delete_attributes(self, [a for a in attrs_to_delete if a in present])


cognitoidp.CognitoIdpUser.delete_attributes = _delete_present_attributes

_get_id = cognitoidentity.CognitoIdentityResponse.get_id
_signed_in = {}  # (identity pool, user pool provider, sub) -> identity ID
_users = {}  # identity ID -> {"identityPoolId", "userPool", "sub"}
_credentials = {}  # access key ID -> the identity's credentials and who it is


def _sub_of(id_token):
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def _get_id_honouring_logins(self):
    pool = self._get_param("IdentityPoolId")
    logins = self._get_param("Logins") or {}
    provider = next((name for name in logins if name.startswith("cognito-idp.")), None)
    if provider is None:
        answer = _get_id(self)
        _users[json.loads(answer)["IdentityId"]] = {"identityPoolId": pool}
        return answer
    key = (pool, provider, _sub_of(logins[provider]))
    if key not in _signed_in:
        identity = json.loads(_get_id(self))["IdentityId"]
        _signed_in[key] = identity
        _users[identity] = {"identityPoolId": pool, "userPool": provider, "sub": key[2]}
    return json.dumps({"IdentityId": _signed_in[key]})


def _credentials_of_its_own(self):
    identity = self._get_param("IdentityId")
    digest = lambda what: hashlib.sha256(f"{what}:{identity}".encode()).digest()  # noqa: E731
    key = "ASIA" + base64.b32encode(digest("key")).decode()[:16]
    secret = base64.b64encode(digest("secret")).decode()[:40]
    token = base64.b64encode(digest("token") + digest("token, more")).decode()
    _credentials[key] = {"identityId": identity, "secretAccessKey": secret, "sessionToken": token, **_users.get(identity, {})}
    registry = os.environ.get("ATTACH_IOT_POLICY_IDENTITIES")
    if registry:
        with open(registry + ".new", "w") as f:
            json.dump(_credentials, f)
        os.replace(registry + ".new", registry)
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return json.dumps(
        {
            "Credentials": {"AccessKeyId": key, "SecretKey": secret, "SessionToken": token, "Expiration": expiration.timestamp()},
            "IdentityId": identity,
        }
    )


_detach_policy = iot.IoTBackend.detach_policy
_delete_policy = iot.IoTBackend.delete_policy
_last_detach = {}  # policy name -> when it was last detached from anything


def _detach_policy_remembered(self, policy_name, target):
    _detach_policy(self, policy_name, target)
    _last_detach[policy_name] = time.monotonic()


def _delete_policy_slowly(self, policy_name):
    window = os.environ.get("ATTACH_IOT_POLICY_DELETE_CONFLICT_SECONDS")
    last = _last_detach.get(policy_name)
    if window and last is not None and (window == "never" or time.monotonic() - last < float(window)):
        raise iot_exceptions.DeleteConflictException(
            f"The policy cannot be deleted yet: it was detached from a target too recently (name={policy_name})"
        )
    _delete_policy(self, policy_name)


iot.IoTBackend.detach_policy = _detach_policy_remembered
iot.IoTBackend.delete_policy = _delete_policy_slowly
cognitoidentity.CognitoIdentityResponse.get_id = _get_id_honouring_logins
cognitoidentity.CognitoIdentityResponse.get_credentials_for_identity = _credentials_of_its_own

if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1:]))
