"""The deployment: the SAM template, its IAM statements, the README's deploy
commands, and `attach-iot-policy call`'s SigV4 signature.

Run by `make test` with the project's virtualenv (cfn-lint, botocore):
    .venv/bin/python -m unittest discover -s tests/deploy -v
"""

import http.server
import json
import os
import re
import subprocess
import threading
import unittest
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
BINARY = Path(os.environ.get("ATTACH_IOT_POLICY_BIN", ROOT / "target" / "release" / "attach-iot-policy"))

# What the template and the CDK construct must agree on (cdk/test checks the construct).
SETTINGS = json.loads((ROOT / "deploy" / "stack-settings.json").read_text())
# Actions whose IAM resource types cannot name what this function acts on, so
# `Resource: "*"` is the narrowest there is. AttachPolicy's resource types are
# `cert` and `thinggroup` (Service Authorization Reference); a Cognito identity is neither.
UNNARROWABLE = set(SETTINGS["unnarrowable"])
FUNCTION_ACTIONS = set(SETTINGS["function"]["actions"])
DRAIN_ACTIONS = set(SETTINGS["drain"]["actions"])


def load_template():
    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return template


def as_list(value):
    return value if isinstance(value, list) else [value]


class TemplateTest(unittest.TestCase):
    def test_cfn_lint_passes(self):
        result = subprocess.run([str(ROOT / ".venv/bin/cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_function_iam_is_least_privilege(self):
        for name, expected in [
            ("AttachIotPolicyFunction", FUNCTION_ACTIONS),
            ("AttachIotPolicyNodeFunction", FUNCTION_ACTIONS),
            ("PolicyDrainFunction", DRAIN_ACTIONS),
            ("PolicyDrainNodeFunction", DRAIN_ACTIONS),
        ]:
            with self.subTest(name):
                self.check_least_privilege(load_template()["Resources"][name]["Properties"], expected)

    def check_least_privilege(self, function, expected):
        statements = [s for policy in function["Policies"] for s in policy["Statement"]]
        actions = {a for s in statements for a in as_list(s["Action"])}
        self.assertEqual(actions, expected)
        policy_arn = "${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:policy/${AWS::StackName}-per-identity"
        for statement in statements:
            # The drain's own calls reach the stack's policy and nothing else.
            if set(as_list(statement["Action"])) & set(SETTINGS["drain"]["onThePolicyAlone"]):
                self.assertEqual(statement["Resource"], {"Fn::Sub": f"arn:{policy_arn}"})
        for statement in statements:
            self.assertEqual(statement["Effect"], "Allow")
            for action in as_list(statement["Action"]):
                if action not in UNNARROWABLE:
                    self.assertNotEqual(statement["Resource"], "*", f"{action} supports a narrower resource")
            if any(a.startswith("cognito-idp:") for a in as_list(statement["Action"])):
                resource = statement["Resource"]["Fn::Sub"]
                self.assertTrue(resource.endswith(":userpool/${UserPoolId}"), resource)

    def test_auth_role_may_invoke_exactly_the_method(self):
        policy = load_template()["Resources"]["AuthRoleMayInvoke"]["Properties"]
        self.assertEqual(policy["Roles"], [{"Ref": "AuthRoleName"}])
        [statement] = policy["PolicyDocument"]["Statement"]
        self.assertEqual(statement["Action"], "execute-api:Invoke")
        rest = [r["Fn::Sub"] for r in statement["Resource"][:2]]
        self.assertTrue(rest[0].endswith("${RestApi}/prod/GET/attachIoTPolicy"), rest)
        self.assertTrue(rest[1].endswith("${RestApi}/prod/DELETE/attachIoTPolicy"), rest)

    def test_the_api_method_requires_iam_auth(self):
        resources = load_template()["Resources"]
        for function, prefix in [("AttachIotPolicyFunction", ""), ("AttachIotPolicyNodeFunction", "Node")]:
            events = resources[function]["Properties"]["Events"]
            for name, method in [("RestGet", "GET"), ("RestDelete", "DELETE")]:
                event = events[prefix + name]["Properties"]
                self.assertEqual((event["Method"], event["Path"]), (method, "/attachIoTPolicy"))
                self.assertEqual(event["Auth"]["Authorizer"], "AWS_IAM")
        for route in ["HttpApiRoute", "HttpApiDeleteRoute"]:
            self.assertEqual(resources[route]["Properties"]["AuthorizationType"], "AWS_IAM")

    def test_one_runtime_or_the_other_with_the_same_settings(self):
        resources = load_template()["Resources"]
        rust, node = resources["AttachIotPolicyFunction"], resources["AttachIotPolicyNodeFunction"]
        self.assertEqual((rust["Condition"], node["Condition"]), ("UseRustRuntime", "UseNodeRuntime"))
        self.assertEqual(rust["Properties"]["Environment"], node["Properties"]["Environment"])
        settings = SETTINGS["function"]
        for runtime, function in [("rust", rust), ("nodejs", node)]:
            props = function["Properties"]
            with self.subTest(runtime):
                self.assertEqual(props["Runtime"], settings["runtime"][runtime])
                self.assertEqual(props["Handler"], settings["handler"][runtime])
                self.assertEqual(props["MemorySize"], settings["memorySize"][runtime])
                self.assertEqual(props["Timeout"], settings["timeout"])
                self.assertEqual(sorted(props["Environment"]["Variables"]), sorted(settings["environment"]))
        drain = SETTINGS["drain"]
        for name in ["PolicyDrainFunction", "PolicyDrainNodeFunction"]:
            props = resources[name]["Properties"]
            self.assertEqual(props["Timeout"], drain["timeout"])
            self.assertEqual(props["Environment"]["Variables"]["DETACH_RATE"], drain["environment"]["DETACH_RATE"])
        self.assertEqual(resources["PolicyTargetsDrain"]["Properties"]["ServiceTimeout"], drain["serviceTimeout"])
        parameters = load_template()["Parameters"]
        self.assertEqual(parameters["AttributeName"]["Default"], SETTINGS["attribute"]["name"])
        self.assertEqual(parameters["AttributeValue"]["AllowedValues"], SETTINGS["attribute"]["values"])
        self.assertEqual(parameters["AttributeValue"]["Default"], SETTINGS["attribute"]["values"][0])
        api = SETTINGS["api"]
        cors = resources["RestApi"]["Properties"]["Cors"]
        self.assertEqual(cors["AllowMethods"], "'" + ",".join(api["cors"]["allowMethods"]) + "'")
        self.assertEqual(cors["AllowHeaders"], "'" + ",".join(api["cors"]["allowHeaders"]) + "'")
        self.assertEqual(cors["MaxAge"], f"'{api['cors']['maxAge']}'")
        self.assertEqual(resources["RestApi"]["Properties"]["StageName"], api["restStage"])
        http_cors = resources["HttpApi"]["Properties"]["CorsConfiguration"]
        self.assertEqual(http_cors["AllowMethods"], api["cors"]["allowMethods"])
        self.assertEqual(http_cors["AllowHeaders"], [h.lower() for h in api["cors"]["allowHeaders"]])
        self.assertEqual(http_cors["MaxAge"], api["cors"]["maxAge"])

    def test_the_stack_drains_its_policy_before_deleting_it(self):
        resources = load_template()["Resources"]
        drain = resources["PolicyTargetsDrain"]
        self.assertEqual(drain["Type"], SETTINGS["drain"]["resourceType"])
        # Once drained, the drain deletes the policy itself (waiting out IoT's
        # refusals), so CloudFormation's one DeletePolicy finds it gone.
        self.assertEqual(drain["Properties"]["DeletePolicy"], "true")
        props = drain["Properties"]
        self.assertEqual(
            props["ServiceToken"]["Fn::If"][1:],
            [{"Fn::GetAtt": ["PolicyDrainNodeFunction", "Arn"]}, {"Fn::GetAtt": ["PolicyDrainFunction", "Arn"]}],
        )
        # A Ref to the policy: CloudFormation deletes the drain (which detaches) before the policy.
        self.assertEqual(props["PolicyName"]["Fn::If"][1], {"Ref": "PerIdentityIotPolicy"})
        # The API's function goes first, so nothing attaches the policy again during the drain.
        for function in ["AttachIotPolicyFunction", "AttachIotPolicyNodeFunction"]:
            self.assertEqual(resources[function]["DependsOn"], "PolicyTargetsDrain")
        # The drain may take its time, within CloudFormation's wait for the answer.
        for drain_function in ["PolicyDrainFunction", "PolicyDrainNodeFunction"]:
            timeout = resources[drain_function]["Properties"]["Timeout"]
            self.assertLessEqual(timeout, props["ServiceTimeout"])
            self.assertGreaterEqual(timeout, 300)

    def test_default_iot_policy_confines_each_identity_to_its_own(self):
        document = load_template()["Resources"]["PerIdentityIotPolicy"]["Properties"]["PolicyDocument"]
        by_action = {}
        for statement in document["Statement"]:
            for action in as_list(statement["Action"]):
                by_action[action] = [r["Fn::Sub"] for r in as_list(statement["Resource"])]
        own = "${!cognito-identity.amazonaws.com:sub}"
        # Its own identity ID as the client ID, or that ID and a suffix: nothing else.
        connect = by_action["iot:Connect"]
        self.assertEqual(len(connect), 2, connect)
        self.assertTrue(connect[0].endswith(f":client/{own}"), connect)
        self.assertTrue(connect[1].endswith(f":client/{own}-*"), connect)
        self.assertEqual(by_action["iot:Publish"], by_action["iot:Receive"])
        self.assertTrue(by_action["iot:Publish"][0].endswith(f":topic/users/{own}/*"))
        self.assertTrue(by_action["iot:Subscribe"][0].endswith(f":topicfilter/users/{own}/*"))


class ReadmeTest(unittest.TestCase):
    def test_deploy_section_names_only_real_commands(self):
        readme = (ROOT / "README.md").read_text()
        section = readme.split("## Deploy", 1)[1].split("\n## ", 1)[0]
        targets = set(re.findall(r"^([a-zA-Z0-9_-]+):", (ROOT / "Makefile").read_text(), re.M))
        make_commands = re.findall(r"\bmake ([A-Za-z0-9_-]+)", section)
        self.assertTrue(make_commands, "the deploy section shows make commands")
        for target in make_commands:
            self.assertIn(target, targets, f"make {target} is not a Makefile target")
        help_text = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True, check=True).stdout
        subcommands = re.findall(r"attach-iot-policy ([a-z][a-z-]*)", section)
        self.assertIn("call", subcommands)
        self.assertIn("detach-all", subcommands)
        for subcommand in subcommands:
            self.assertRegex(help_text, rf"\n\s+{subcommand}\s", f"attach-iot-policy {subcommand} does not exist")
            sub_help = subprocess.run([str(BINARY), subcommand, "--help"], capture_output=True, text=True, check=True).stdout
            for flag in re.findall(rf"attach-iot-policy {subcommand}\b[^\n`]*", section):
                for option in re.findall(r"(--[a-z-]+)", flag):
                    self.assertIn(option, sub_help, f"attach-iot-policy {subcommand} has no {option}")
        for word in ["sam build", "sam deploy --guided", "IotPolicyNames", "UserPoolId", "IdentityPoolId", "AuthRoleName"]:
            self.assertIn(word, section)

    def test_the_readme_and_docs_name_only_real_commands_and_files(self):
        # Phony targets and file targets (`make target/jco/attacher.js`).
        targets = set(re.findall(r"^([a-zA-Z0-9_./-]+):", (ROOT / "Makefile").read_text(), re.M))
        help_text = subprocess.run([str(BINARY), "--help"], capture_output=True, text=True, check=True).stdout
        pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for page in pages:
            text = page.read_text()
            makes = set(re.findall(r"`make ([A-Za-z0-9_./-]+)", text))
            for block in re.findall(r"```sh\n(.*?)```", text, re.S):
                makes |= set(re.findall(r"^\s*make ([A-Za-z0-9_./-]+)", block, re.M))
            for target in makes:
                self.assertIn(target, targets, f"{page.name}: make {target} is not a Makefile target")
            for subcommand, rest in re.findall(r"attach-iot-policy ([a-z][a-z-]*)\b([^\n`]*)", text):
                self.assertRegex(help_text, rf"\n\s+{subcommand}\s", f"{page.name}: attach-iot-policy {subcommand}")
                sub_help = subprocess.run([str(BINARY), subcommand, "--help"], capture_output=True, text=True,
                                          check=True).stdout
                for option in re.findall(r"(--[a-z-]+)", rest):
                    self.assertIn(option, sub_help, f"{page.name}: attach-iot-policy {subcommand} has no {option}")
            # Every link to a file of this repository leads somewhere.
            for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
                self.assertTrue((page.parent / link).exists(), f"{page.name}: {link} does not exist")


KEY, SECRET, TOKEN = "AKIDCALLTEST", "call-test-secret-key-0123456789", "call-test-session-token"


class SigV4CheckingServer(http.server.BaseHTTPRequestHandler):
    """Answers 200 only to a request whose SigV4 signature botocore computes the same."""

    seen = []

    def do_GET(self):
        authorization = self.headers.get("Authorization", "")
        match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                         r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)", authorization)
        ok = False
        if match:
            key, _, region, service, signed, signature = match.groups()
            headers = {h: self.headers[h] for h in signed.split(";")}
            request = AWSRequest(method="GET", url=f"http://{self.headers['host']}{self.path}", headers=headers)
            request.context["timestamp"] = self.headers["x-amz-date"]
            auth = SigV4Auth(Credentials(KEY, SECRET, TOKEN), service, region)
            expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
            ok = key == KEY and service == "execute-api" and signature == expected
            SigV4CheckingServer.seen.append((region, service, ok, self.headers.get("x-amz-security-token")))
        body = b'{"msg":"signed correctly"}' if ok else b'{"message":"The request signature we calculated does not match"}'
        self.send_response(200 if ok else 403)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class CallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), SigV4CheckingServer)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_port}/prod/attachIoTPolicy"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def call(self, secret):
        env = {"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_SESSION_TOKEN": TOKEN}
        return subprocess.run([str(BINARY), "call", "--url", self.url, "--region", "eu-west-1"],
                              capture_output=True, text=True, env=env, timeout=60)

    def test_call_signs_for_execute_api(self):
        SigV4CheckingServer.seen.clear()
        result = self.call(SECRET)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("signed correctly", result.stdout)
        self.assertEqual(SigV4CheckingServer.seen, [("eu-west-1", "execute-api", True, TOKEN)])

    def test_a_wrong_secret_fails_without_echoing_it(self):
        wrong = "wrong-secret-wrong-secret-wrong-00"
        result = self.call(wrong)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("HTTP 403", result.stderr)
        self.assertNotIn(wrong, result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
