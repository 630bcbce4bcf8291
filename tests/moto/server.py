"""moto_server, patched where moto answers differently from AWS in ways the
tests depend on. Arguments are moto_server's.

- An IoT request with an empty body, such as ListTargetsForPolicy, is
  signed over the empty payload (moto checks its parsed query instead, and
  answers SignatureDoesNotMatch to a correct signature).
- AdminDeleteUserAttributes of an attribute the user does not have is not an
  error, as in AWS (moto answers InvalidParameterException).
"""
import sys

from moto import server
from moto.cognitoidp import models as cognitoidp
from moto.iam import access_control

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

if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1:]))
