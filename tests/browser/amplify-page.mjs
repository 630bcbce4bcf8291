// The Amplify page: Amplify JS v6 configured against the test's Cognito
// (moto), and the package's Amplify entry, on `window` for the test to drive.
import { Amplify } from 'aws-amplify';
import { signIn, signOut } from 'aws-amplify/auth';
import * as client from '../../client/dist/amplify.js';

window.app = {
  configure({ pool, clientId, identityPool, endpoint }) {
    Amplify.configure({
      Auth: {
        Cognito: {
          userPoolId: pool,
          userPoolClientId: clientId,
          identityPoolId: identityPool,
          userPoolEndpoint: endpoint,
          identityPoolEndpoint: endpoint,
          allowGuestAccess: true,
        },
      },
    });
  },
  async signIn(username, password) {
    await signOut();
    // moto's SRP flow fails; USER_PASSWORD_AUTH is what the pool's client allows.
    return signIn({ username, password, options: { authFlowType: 'USER_PASSWORD_AUTH' } });
  },
  client,
};
