import { defineAuth } from '@aws-amplify/backend';

export const auth = defineAuth({
  loginWith: { email: true },
  userAttributes: {
    // Set by attach-iot-policy once the IoT policy is attached, removed when
    // it is detached: mutable, and long enough for an identity ID
    // (identity-id mode: `<region>:<UUID>`, up to 55 characters).
    'custom:iotPolicyIsAttached': { dataType: 'String', mutable: true, maxLen: 64 },
  },
});
