// The app's side: after sign-in, make sure the identity's IoT policy is
// attached (one call the first time, none after), then connect with the
// client ID the policy accepts.
import { Amplify } from 'aws-amplify';
import { ensureIotPolicy, type Mode } from 'attach-iot-policy-client/amplify';
import outputs from '../amplify_outputs.json';

Amplify.configure(outputs);

export async function iotClientId(tab: string): Promise<string> {
  const { invokeUrl, mode } = outputs.custom.attachIotPolicy;
  // JSON gives the mode as a string: backend.ts wrote 'identity-id'.
  const { clientId } = await ensureIotPolicy({ url: invokeUrl, mode: mode as Mode });
  // `<identity ID>-<tab>`: each tab connects side by side.
  return clientId(tab);
}
