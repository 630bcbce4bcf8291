// An app's use of the package, type-checked against its published types
// (`npm test` runs `tsc --noEmit` on it): the README's client code is this.
import { AttachIotPolicyError, ensureIotPolicy, releaseIotPolicy } from 'attach-iot-policy-client/amplify';
import * as plain from 'attach-iot-policy-client';

const url = 'https://abc123.execute-api.us-east-1.amazonaws.com/prod/attachIoTPolicy';

// After sign-in, before MQTT: the policies, then the client ID the policy accepts.
export async function connectable(tab: string): Promise<string> {
  const { clientId, called } = await ensureIotPolicy({ url });
  if (called) console.info('the IoT policy was attached just now; IoT may take a few seconds to apply it');
  return clientId(tab); // `<identity ID>-<tab>`: one user's tabs connect side by side
}

// MQTT refused a connection that the attribute says should work (after an
// operator ran `detach-all`, say): attach again once, whatever the attribute says.
export async function recover(): Promise<void> {
  try {
    await ensureIotPolicy({ url, force: true });
  } catch (e) {
    if (e instanceof AttachIotPolicyError && !e.retryable) throw e; // 403, 409: the app cannot fix these
    throw new Error('try again later', { cause: e });
  }
}

// Before deleting the account, or to give up MQTT access.
export async function leave(): Promise<string[]> {
  const { detached, notAttached } = await releaseIotPolicy({ url });
  return [...detached, ...notAttached];
}

// Without Amplify: credentials from the AWS SDK v3, the attribute read fresh by the app.
export async function withoutAmplify(
  credentials: () => Promise<plain.Credentials>,
  identityId: string,
  readAttribute: () => Promise<string | undefined>,
): Promise<plain.Outcome> {
  return plain.ensureIotPolicy({ url, credentials, identityId, attribute: readAttribute, mode: 'identity-id' });
}
