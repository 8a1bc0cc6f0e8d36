// The control plane a test file runs against: the one the test runner shares across files
// ($TENANT_PROXY_TEST_CONTROL_PLANE), or, when a file runs alone, one of its own that dies with it.
import { ControlPlane } from './control-plane.ts';

let shared: Promise<ControlPlane> | undefined;

export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= (async () => {
    const stateFile = process.env.TENANT_PROXY_TEST_CONTROL_PLANE;
    if (stateFile) return ControlPlane.attach(stateFile);
    const cp = await ControlPlane.start({ unref: true });
    return cp;
  })();
  return shared;
}
