// Connecting to AWS IoT after the attach, with Amplify v6's PubSub.
// Type-checked by `npm test`; not run: MQTT cannot reach AWS IoT from the
// machines this project is tested on.
import { Hub } from 'aws-amplify/utils';
import { CONNECTION_STATE_CHANGE, ConnectionState, PubSub } from '@aws-amplify/pubsub';
import { ensureIotPolicy } from 'attach-iot-policy-client/amplify';

const url = 'https://abc123.execute-api.us-east-1.amazonaws.com/prod/attachIoTPolicy';
// Your account's endpoint: `aws iot describe-endpoint --endpoint-type iot:Data-ATS`.
const endpoint = 'wss://example-ats.iot.us-east-1.amazonaws.com/mqtt';

export async function connect(tab: string, onMessage: (topic: string, message: unknown) => void): Promise<() => void> {
  const { identityId, clientId, called } = await ensureIotPolicy({ url });
  // The default policy: the identity ID or `<identity ID>-<suffix>` as the client ID, topics under users/<identity ID>/.
  const pubsub = new PubSub({ region: 'us-east-1', endpoint, clientId: clientId(tab) });
  let forced = false;
  let recentlyAttached = called;
  const stop = Hub.listen('pubsub', ({ payload }) => {
    if (payload.event !== CONNECTION_STATE_CHANGE) return;
    const state = (payload.data as { connectionState?: ConnectionState }).connectionState;
    if (state !== ConnectionState.ConnectionDisrupted) return;
    // Just attached: IoT applies a new policy within seconds; PubSub reconnects with backoff.
    if (recentlyAttached) return;
    // Refused although the attribute says attached (an operator ran detach-all, say):
    // attach again, once, whatever the attribute says; PubSub then reconnects.
    if (!forced) {
      forced = true;
      void ensureIotPolicy({ url, force: true }).then(() => (recentlyAttached = true));
    }
  });
  setTimeout(() => (recentlyAttached = false), 30_000);
  const subscription = pubsub.subscribe({ topics: [`users/${identityId}/#`] }).subscribe({
    next: (message) => onMessage(String(message[Symbol.for('topic')] ?? ''), message),
  });
  return () => {
    subscription.unsubscribe();
    stop();
  };
}
