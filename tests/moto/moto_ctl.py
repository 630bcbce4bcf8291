"""Sets up and inspects a moto server for the integration tests.

    moto_ctl.py setup URL   -> JSON with the IDs and keys the tests use
    moto_ctl.py state URL JSON-QUERY -> JSON with the policies and attributes
    moto_ctl.py populate URL JSON-QUERY -> attaches policies to many new identities
    moto_ctl.py targets URL JSON-QUERY -> JSON with each policy's targets
    moto_ctl.py assume URL JSON-QUERY -> JSON with a role's temporary credentials
    moto_ctl.py auth URL on|off

moto checks signatures and IAM policies only while auth is on; setup and
state run with it off (moto misverifies requests that have no body).
"""
import contextlib
import datetime
import json
import os
import ssl
import sys
import urllib.request

import boto3

REGION = "us-east-1"
ADMIN = dict(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
POLICY_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}


def client(url, service):
    return boto3.client(service, endpoint_url=url, **ADMIN)


def auth(url, on):
    body = b"0" if on else b"inf"
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    # Over HTTPS, trust what AWS_CA_BUNDLE names, as boto3 does.
    context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
    urllib.request.urlopen(request, context=context).read()


@contextlib.contextmanager
def auth_off(url):
    """Checking off while the test harness reads or writes, then on again."""
    auth(url, False)
    try:
        yield
    finally:
        auth(url, True)


def iam_user(iam, name, actions):
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def setup(url):
    auth(url, False)
    iot = client(url, "iot")
    iot.create_policy(policyName="iot-connect-own-topics", policyDocument=json.dumps(POLICY_DOC))

    identity = client(url, "cognito-identity")
    pool_id = identity.create_identity_pool(IdentityPoolName="app", AllowUnauthenticatedIdentities=True)["IdentityPoolId"]
    identity_ids = [identity.get_id(IdentityPoolId=pool_id)["IdentityId"] for _ in range(3)]

    idp = client(url, "cognito-idp")
    user_pool_id = idp.create_user_pool(
        PoolName="users",
        Schema=[{"Name": "iotPolicyIsAttached", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    users = []
    for username in ["mat@example.com", "ana@example.com", "lee@example.com"]:
        idp.admin_create_user(UserPoolId=user_pool_id, Username=username)
        attributes = idp.admin_get_user(UserPoolId=user_pool_id, Username=username)["UserAttributes"]
        users.append({"username": username, "sub": next(a["Value"] for a in attributes if a["Name"] == "sub")})

    iam = client(url, "iam")
    allowed = [
        "iot:AttachPolicy",
        "iot:DetachPolicy",
        "iot:ListTargetsForPolicy",
        "cognito-idp:ListUsers",
        "cognito-idp:AdminUpdateUserAttributes",
        "cognito-idp:AdminDeleteUserAttributes",
    ]
    # The drain's: list and detach, then delete the policy it drained.
    drain = ["iot:ListTargetsForPolicy", "iot:DetachPolicy", "iot:ListPolicyVersions", "iot:DeletePolicyVersion", "iot:DeletePolicy"]
    # For the credential chain's assume-role profile: a role with the
    # function's permissions, and a user who may only assume it. moto matches
    # a trust policy's principal exactly (AWS also takes the account's root).
    assume_only_key = iam_user(iam, "assume-only", ["sts:AssumeRole"])
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/assume-only"},
        "Action": "sts:AssumeRole",
    }]}
    role = iam.create_role(RoleName="attach-iot-policy-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    role_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="fn", PolicyDocument=json.dumps(role_policy))
    return {
        "roleArn": role["Arn"],
        "assumeOnlyKey": assume_only_key,
        "region": REGION,
        "policyName": "iot-connect-own-topics",
        "identityPoolId": pool_id,
        "identityIds": identity_ids,
        "userPoolId": user_pool_id,
        "users": users,
        "functionKey": iam_user(iam, "attach-iot-policy-fn", allowed),
        "attachOnlyKey": iam_user(iam, "attach-only-fn", ["iot:AttachPolicy"]),
        "drainKey": iam_user(iam, "drain-fn", drain),
        "drainOnlyKey": iam_user(iam, "drain-only-fn", drain[:2]),
    }


def assume(url, query):
    """Temporary credentials for the role, as a container endpoint serves them (auth stays on)."""
    sts = boto3.client(
        "sts", endpoint_url=url, region_name=REGION,
        aws_access_key_id=query["id"], aws_secret_access_key=query["secret"],
    )
    credentials = sts.assume_role(RoleArn=query["roleArn"], RoleSessionName="container")["Credentials"]
    return {
        "AccessKeyId": credentials["AccessKeyId"],
        "SecretAccessKey": credentials["SecretAccessKey"],
        "Token": credentials["SessionToken"],
        "Expiration": credentials["Expiration"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def populate(url, query):
    """Attaches `policy` to `count` new identities, and `other` (a new policy) to the first `otherCount`."""
    with auth_off(url):
        iot = client(url, "iot")
        iot.create_policy(policyName=query["other"], policyDocument=json.dumps(POLICY_DOC))
        identity = client(url, "cognito-identity")
        pool_id = identity.list_identity_pools(MaxResults=1)["IdentityPools"][0]["IdentityPoolId"]
        ids = [identity.get_id(IdentityPoolId=pool_id)["IdentityId"] for _ in range(query["count"])]
        for target in ids:
            iot.attach_policy(policyName=query["policy"], target=target)
        for target in ids[: query["otherCount"]]:
            iot.attach_policy(policyName=query["other"], target=target)
        return {"identityIds": ids}


def policies(url):
    """The names of the IoT policies that exist."""
    with auth_off(url):
        return [p["policyName"] for p in client(url, "iot").list_policies()["policies"]]


def version(url, query):
    """Adds a version to `policy`, not made its default (as an edit in the console that is not applied)."""
    with auth_off(url):
        iot = client(url, "iot")
        v = iot.create_policy_version(policyName=query["policy"], policyDocument=json.dumps(POLICY_DOC), setAsDefault=False)
        return {"versionId": v["policyVersionId"]}


def targets(url, query):
    """The targets of each policy named in the query's list."""
    with auth_off(url):
        iot = client(url, "iot")
        return {p: iot.list_targets_for_policy(policyName=p)["targets"] for p in query["policies"]}


def state(url, query):
    with auth_off(url):
        iot = client(url, "iot")
        policies = [p["policyName"] for p in iot.list_attached_policies(target=query["identityId"])["policies"]]
        idp = client(url, "cognito-idp")
        user = idp.admin_get_user(UserPoolId=query["userPoolId"], Username=query["username"])
        attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        return {"policies": policies, "attributes": attributes}


def main():
    command, url = sys.argv[1], sys.argv[2]
    if command == "setup":
        print(json.dumps(setup(url)))
    elif command == "state":
        print(json.dumps(state(url, json.loads(sys.argv[3]))))
    elif command == "populate":
        print(json.dumps(populate(url, json.loads(sys.argv[3]))))
    elif command == "policies":
        print(json.dumps(policies(url)))
    elif command == "version":
        print(json.dumps(version(url, json.loads(sys.argv[3]))))
    elif command == "targets":
        print(json.dumps(targets(url, json.loads(sys.argv[3]))))
    elif command == "assume":
        print(json.dumps(assume(url, json.loads(sys.argv[3]))))
    elif command == "auth":
        auth(url, sys.argv[3] == "on")
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
