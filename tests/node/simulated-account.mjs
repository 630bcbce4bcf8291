// The in-memory AWS account of host/src/aws/simulated.rs, in JavaScript: the
// same answers and error cases, and the same faults, so that fixtures mean
// the same thing in both hosts.

export class SimulatedAccount {
  constructor(state, faults = []) {
    this.state = structuredClone(state);
    this.state.policies ??= [];
    this.state.attachments ??= {};
    this.state.userPools ??= {};
    this.faults = faults.map(checkFault);
    this.counts = {};
  }

  /** The AWS imports. */
  imports() {
    return {
      attachPolicy: (policyName, target) =>
        this.#call('attach-policy', () => {
          if (!this.state.policies.includes(policyName)) fail('not-found', 'ResourceNotFoundException: Policy not found');
          const already = (this.state.attachments[policyName] ?? []).includes(target);
          const count = Object.values(this.state.attachments).filter((t) => t.includes(target)).length;
          if (!already && count >= POLICIES_PER_IDENTITY) {
            fail('limit-exceeded', `LimitExceededException: The target ${target} has reached the limit of ${POLICIES_PER_IDENTITY} policies`);
          }
          (this.state.attachments[policyName] ??= []).includes(target) ||
            this.state.attachments[policyName].push(target);
        }),
      detachPolicy: (policyName, target) =>
        this.#call('detach-policy', () => {
          if (!this.state.policies.includes(policyName)) fail('not-found', 'ResourceNotFoundException: Policy not found');
          const targets = (this.state.attachments[policyName] ?? []).filter((t) => t !== target);
          if (targets.length) this.state.attachments[policyName] = targets;
          else delete this.state.attachments[policyName];
        }),
      deleteAttributes: (userPoolId, username, names) =>
        this.#call('delete-attributes', () => {
          const pool = this.#pool(userPoolId);
          const unknown = names.find((n) => !(pool.customAttributes ?? []).includes(n));
          if (unknown) fail('invalid-request', `InvalidParameterException: Attribute does not exist in the schema: ${unknown}`);
          const user = (pool.users ?? []).find((u) => u.username === username || ((u.subIsAlias ?? true) && u.sub === username));
          if (!user) fail('not-found', 'UserNotFoundException: User does not exist.');
          // As AWS: removing an attribute the user does not have is not an error.
          for (const n of names) delete user.attributes?.[n];
        }),
      listUsers: (userPoolId, filter) =>
        this.#call('list-users', () => {
          const pool = this.#pool(userPoolId);
          const parsed = parseFilter(filter);
          if (!parsed) fail('invalid-request', 'InvalidParameterException: Error while parsing filter.');
          const [name, value] = parsed;
          return (pool.users ?? [])
            .filter((u) => (name === 'sub' ? u.sub === value : name === 'username' ? u.username === value : u.attributes?.[name] === value))
            .map((u) => u.username);
        }),
      updateAttributes: (userPoolId, username, attributes) =>
        this.#call('update-attributes', () => {
          const pool = this.#pool(userPoolId);
          const unknown = attributes.find((a) => !(pool.customAttributes ?? []).includes(a.name));
          if (unknown) fail('invalid-request', `InvalidParameterException: Attribute does not exist in the schema: ${unknown.name}`);
          const user = (pool.users ?? []).find((u) => u.username === username || ((u.subIsAlias ?? true) && u.sub === username));
          if (!user) fail('not-found', 'UserNotFoundException: User does not exist.');
          user.attributes ??= {};
          for (const a of attributes) user.attributes[a.name] = a.value;
        }),
    };
  }

  #pool(id) {
    const pool = this.state.userPools[id];
    if (!pool) fail('not-found', `ResourceNotFoundException: User pool ${id} does not exist.`);
    return pool;
  }

  #call(op, body) {
    const n = (this.counts[op] = (this.counts[op] ?? 0) + 1);
    const fault = this.faults.find((f) => f.op === op && (f.call == null || f.call === n));
    if (fault) {
      const [tag, val] = Object.entries(fault.error)[0];
      fail(tag, val);
    }
    return body();
  }
}

const OPS = ['attach-policy', 'list-users', 'update-attributes', 'detach-policy', 'delete-attributes'];
const ERROR_CASES = ['not-found', 'access-denied', 'throttled', 'invalid-request', 'unavailable', 'other', 'limit-exceeded'];
/** AWS IoT attaches at most this many policies to one Cognito identity. */
const POLICIES_PER_IDENTITY = 10;

/** As strict as the Rust twin: a fault with a typo is an error, never a fault that never fires. */
export function checkFault(fault) {
  const keys = Object.keys(fault).filter((k) => !['op', 'call', 'error'].includes(k));
  if (keys.length) throw new Error(`a fault has unknown fields: ${keys.join(', ')}`);
  if (!OPS.includes(fault.op)) throw new Error(`a fault's op must be one of ${OPS.join(', ')}`);
  if (fault.call != null && !(Number.isInteger(fault.call) && fault.call >= 1)) {
    throw new Error("a fault's call counts from 1");
  }
  const cases = Object.entries(fault.error ?? {});
  if (cases.length !== 1 || !ERROR_CASES.includes(cases[0][0]) || typeof cases[0][1] !== 'string') {
    throw new Error("a fault's error is one WIT case and its message, such as {\"throttled\": \"…\"}");
  }
  return fault;
}

function fail(tag, val) {
  throw { payload: { tag, val } };
}

/** `name = "value"`, the only filter form the guest sends. */
function parseFilter(filter) {
  const i = filter.indexOf(' = ');
  if (i < 0) return null;
  const value = filter.slice(i + 3);
  if (!value.startsWith('"') || !value.endsWith('"') || value.length < 2) return null;
  const inner = value.slice(1, -1);
  return inner.includes('"') ? null : [filter.slice(0, i).trim(), inner];
}
