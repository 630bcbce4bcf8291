// The AWS operations, in one place: for each function jco gives the guest's
// imports (and the host's own, for the drain and the policy's deletion), the operation's name as
// the logs, the recordings and the fixtures write it (the Rust host's
// `AwsCall::op`, checked against this file by its tests), the AWS API action,
// and its arguments as the fixtures list them.
export const OPERATIONS = {
  attachPolicy: { op: 'attach-policy', action: 'AttachPolicy', args: (p, t) => [p, t] },
  listUsers: { op: 'list-users', action: 'ListUsers', args: (u, f) => [u, f] },
  updateAttributes: {
    op: 'update-attributes',
    action: 'AdminUpdateUserAttributes',
    args: (u, n, attrs) => [u, n, ...attrs.map((a) => `${a.name}=${a.value}`)],
  },
  detachPolicy: { op: 'detach-policy', action: 'DetachPolicy', args: (p, t) => [p, t] },
  deleteAttributes: { op: 'delete-attributes', action: 'AdminDeleteUserAttributes', args: (u, n, names) => [u, n, ...names] },
  listTargetsForPolicy: { op: 'list-targets-for-policy', action: 'ListTargetsForPolicy', args: (p, m) => (m ? [p, m] : [p]), host: true },
  listPolicyVersions: { op: 'list-policy-versions', action: 'ListPolicyVersions', args: (p) => [p], host: true },
  deletePolicyVersion: { op: 'delete-policy-version', action: 'DeletePolicyVersion', args: (p, v) => [p, v], host: true },
  deletePolicy: { op: 'delete-policy', action: 'DeletePolicy', args: (p) => [p], host: true },
};

/** The WIT imports: every operation but the host's own. */
export const IMPORTS = Object.keys(OPERATIONS).filter((name) => !OPERATIONS[name].host);
