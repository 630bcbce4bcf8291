// The page for the framework-free entry with the AWS SDK v3's own clients:
// sign in to the user pool, get the identity and its credentials from the
// identity pool, read the attribute with GetUser; on `window` for the test.
import { CognitoIdentityClient, GetCredentialsForIdentityCommand, GetIdCommand } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient, GetUserCommand, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import * as client from '../../client/dist/index.js';

// Unsigned calls (sign-in, GetId, GetCredentialsForIdentity) need no credentials.
const anonymous = { accessKeyId: 'unused', secretAccessKey: 'unused' };

window.app = {
  async signIn({ endpoint, clientId, provider, identityPool, username, password }) {
    const idp = new CognitoIdentityProviderClient({ region: 'us-east-1', endpoint, credentials: anonymous });
    const identity = new CognitoIdentityClient({ region: 'us-east-1', endpoint, credentials: anonymous });
    const auth = await idp.send(new InitiateAuthCommand({ ClientId: clientId, AuthFlow: 'USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD: password } }));
    const logins = { [provider]: auth.AuthenticationResult.IdToken };
    const { IdentityId } = await identity.send(new GetIdCommand({ IdentityPoolId: identityPool, Logins: logins }));
    const credentials = async () => {
      const { Credentials: c } = await identity.send(new GetCredentialsForIdentityCommand({ IdentityId, Logins: logins }));
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey, sessionToken: c.SessionToken };
    };
    const attribute = async () => {
      const user = await idp.send(new GetUserCommand({ AccessToken: auth.AuthenticationResult.AccessToken }));
      return user.UserAttributes.find((a) => a.Name === 'custom:iotPolicyIsAttached')?.Value;
    };
    window.app.session = { identityId: IdentityId, credentials, attribute };
    return IdentityId;
  },
  ensure(options) {
    return client.ensureIotPolicy({ ...window.app.session, ...options });
  },
  release(options) {
    return client.releaseIotPolicy({ credentials: window.app.session.credentials, ...options });
  },
};
