// A stand-in for API Gateway's IAM authorization, on loopback, for the
// client's tests: it verifies each request's SigV4 signature (service
// execute-api, the session token, the clock skew, the signed headers) by
// signing the same request again with the caller's known secret, and only
// then answers with what the test queued. A request that fails the check gets
// API Gateway's 403 and is not counted as a call.
import { createServer } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

const SKEW_MS = 5 * 60_000;

/**
 * `identities`: access key ID → { secretAccessKey, sessionToken, identityId,
 * and for a user pool's user, identityPoolId, userPool, sub }; or a function
 * that looks one up (moto's, through tests/moto/server.py's registry).
 * `cors`: { origin, methods, headers, maxAge }, for a page of another origin:
 * preflights are answered with these, as API Gateway's CORS configuration
 * does, and every answer carries the origin.
 * `invoke`: the function behind the API. Given, each verified request becomes
 * the REST API's Lambda proxy event, its identity taken only from the
 * credentials that signed it, and the function's answer is relayed; else the
 * test's queued answers are given.
 */
export async function startApi(identities, { region = 'us-east-1', cors, invoke, payload = '1.0' } = {}) {
  const identityOf = typeof identities === 'function' ? identities : (key) => identities[key];
  const answers = [];
  const calls = [];
  const refused = [];
  const preflights = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const allow = cors ? { 'access-control-allow-origin': cors.origin } : {};
    if (cors && req.method === 'OPTIONS') {
      preflights.push({ origin: req.headers.origin, method: req.headers['access-control-request-method'], headers: req.headers['access-control-request-headers'] });
      res.writeHead(204, {
        ...allow,
        'access-control-allow-methods': cors.methods,
        'access-control-allow-headers': cors.headers,
        'access-control-max-age': cors.maxAge,
      });
      return res.end();
    }
    const why = await refusal(req, url, identityOf, region);
    if (why) {
      refused.push(why);
      res.writeHead(403, { 'content-type': 'application/json', ...allow });
      return res.end(JSON.stringify({ message: why }));
    }
    const key = /Credential=([^/]+)\//.exec(req.headers.authorization)[1];
    const identity = identityOf(key);
    calls.push({ method: req.method, path: url.pathname, search: url.search, identityId: identity.identityId });
    if (invoke) {
      // With a Lambda proxy integration, the CORS header on an answer is the function's own.
      const event = payload === '2.0' ? httpApiEvent(req, url, key, identity) : proxyEvent(req, url, key, identity);
      const response = await invoke(event);
      res.writeHead(response.statusCode, response.headers);
      return res.end(response.body);
    }
    const [status, headers, body] = answers.shift() ?? [200, {}, { identityId: identity.identityId, attributeUpdated: false }];
    res.writeHead(status, { 'content-type': 'application/json', ...allow, ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    /** Queues the next answers: [status, headers, body]. */
    answer: (...next) => answers.push(...next),
    calls,
    refused,
    preflights,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The REST API's Lambda proxy event, as API Gateway builds it under `AWS_IAM`. */
function proxyEvent(req, url, key, identity) {
  const region = identity.identityId.split(':')[0];
  const provider = identity.userPool
    ? `${identity.userPool},${identity.userPool}:CognitoSignIn:${identity.sub}`
    : null;
  const query = url.search ? Object.fromEntries(url.searchParams) : null;
  return {
    resource: '/attachIoTPolicy',
    path: url.pathname,
    httpMethod: req.method,
    headers: { Host: req.headers.host, 'User-Agent': req.headers['user-agent'] ?? '' },
    queryStringParameters: query,
    requestContext: {
      resourcePath: '/attachIoTPolicy',
      httpMethod: req.method,
      path: url.pathname,
      stage: 'prod',
      accountId: '123456789012',
      identity: {
        cognitoIdentityPoolId: identity.identityPoolId ?? null,
        cognitoIdentityId: identity.identityId,
        accessKey: key,
        cognitoAuthenticationType: provider ? 'authenticated' : 'unauthenticated',
        cognitoAuthenticationProvider: provider,
        caller: 'AROAEXAMPLE:CognitoIdentityCredentials',
        sourceIp: '127.0.0.1',
      },
      domainName: req.headers.host,
      apiId: 'standin',
      requestId: `standin-${Date.now()}`,
      extendedRequestId: 'standin',
      requestTime: new Date().toUTCString(),
      region,
    },
    body: null,
    isBase64Encoded: false,
  };
}

/** The HTTP API's event (payload 2.0), as its IAM authorizer fills it in. */
function httpApiEvent(req, url, key, identity) {
  const amr = identity.userPool
    ? ['authenticated', identity.userPool, `${identity.userPool}:CognitoSignIn:${identity.sub}`]
    : ['unauthenticated'];
  return {
    version: '2.0',
    routeKey: `${req.method} /attachIoTPolicy`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: { host: req.headers.host, 'user-agent': req.headers['user-agent'] ?? '' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'standin',
      authorizer: {
        iam: {
          accessKey: key,
          accountId: '123456789012',
          callerId: 'AROAEXAMPLE:CognitoIdentityCredentials',
          cognitoIdentity: { amr, identityId: identity.identityId, identityPoolId: identity.identityPoolId ?? null },
          principalOrgId: null,
          userArn: 'arn:aws:sts::123456789012:assumed-role/authRole/CognitoIdentityCredentials',
          userId: 'AROAEXAMPLE:CognitoIdentityCredentials',
        },
      },
      domainName: req.headers.host,
      http: { method: req.method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' },
      requestId: `standin-${Date.now()}`,
      routeKey: `${req.method} /attachIoTPolicy`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

/** Why API Gateway would refuse the request, or nothing. */
async function refusal(req, url, identityOf, region) {
  const authorization = req.headers.authorization ?? '';
  const parts = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(authorization);
  if (!parts) return 'missing or malformed Authorization';
  const [, key, day, scopeRegion, service, signedHeaders] = parts;
  const identity = identityOf(key);
  if (!identity) return 'unknown access key';
  if (service !== 'execute-api' || scopeRegion !== region) return 'wrong credential scope';
  const amzDate = req.headers['x-amz-date'] ?? '';
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!date || !amzDate.startsWith(day)) return 'missing or malformed X-Amz-Date';
  const signingDate = new Date(Date.UTC(date[1], date[2] - 1, date[3], date[4], date[5], date[6]));
  if (Math.abs(Date.now() - signingDate.getTime()) > SKEW_MS) return 'signature expired';
  if (identity.sessionToken && req.headers['x-amz-security-token'] !== identity.sessionToken) return 'wrong session token';
  const names = signedHeaders.split(';');
  for (const required of ['host', 'x-amz-date', ...(identity.sessionToken ? ['x-amz-security-token'] : [])]) {
    if (!names.includes(required)) return `${required} is not signed`;
  }
  const headers = Object.fromEntries(names.map((name) => [name, req.headers[name] ?? '']));
  const query = {};
  for (const [name, value] of url.searchParams) query[name] = name in query ? [].concat(query[name], value) : value;
  const signer = new SignatureV4({
    credentials: { accessKeyId: key, secretAccessKey: identity.secretAccessKey, sessionToken: identity.sessionToken },
    region,
    service: 'execute-api',
    sha256: Sha256,
  });
  const expected = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers },
    { signingDate },
  );
  return expected.headers.authorization === authorization ? null : 'signature does not match';
}
