// Two identities' credentials, as Cognito would give them, for the tests
// that run the package against the API stand-in alone.
export const MAT = {
  accessKeyId: 'ASIAMATEXAMPLE000001',
  secretAccessKey: 'mat-secret/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'mat-session-token-IQoJb3JpZ2luX2VjEJr',
  identityId: 'us-east-1:d625c9c7-9a79-483c-bb4a-0123456789ab',
};
export const ANA = {
  accessKeyId: 'ASIAANAEXAMPLE000002',
  secretAccessKey: 'ana-secret/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'ana-session-token-IQoJb3JpZ2luX2VjEJr',
  identityId: 'us-east-1:e625c9c7-9a79-483c-bb4a-0123456789ab',
};
