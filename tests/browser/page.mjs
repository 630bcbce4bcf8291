// The page's script: the app's package, as an app bundles it, on `window`
// for the test to drive.
import * as client from '../../client/dist/index.js';

window.client = client;
