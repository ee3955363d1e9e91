import { KeystoneV3Auth, SwiftAuthenticator, TempAuth } from './auth';
import { SwiftClient } from './swift-client';

/** The parts of island's region configuration a client needs (structurally typed: no config import). */
export interface SwiftRegionSettings {
  name: string;
  swift: { authUrl: string; authVersion: '1' | '3'; user: string; key: string; project?: string; domain?: string };
}

export interface SwiftTuning {
  concurrency: number;
  timeoutMs: number;
  retries: number;
}

export function authenticatorFor(region: SwiftRegionSettings): SwiftAuthenticator {
  const { swift } = region;
  if (swift.authVersion === '3') {
    if (!swift.project) throw new TypeError(`region ${region.name}: Keystone v3 needs a project`);
    return new KeystoneV3Auth({
      authUrl: swift.authUrl,
      user: swift.user,
      password: swift.key,
      project: swift.project,
      domain: swift.domain,
      region: region.name,
    });
  }
  return new TempAuth(swift.authUrl, swift.user, swift.key);
}

export function swiftClientFor(region: SwiftRegionSettings, tuning: SwiftTuning): SwiftClient {
  return new SwiftClient({
    auth: authenticatorFor(region),
    concurrency: tuning.concurrency,
    timeoutMs: tuning.timeoutMs,
    retry: { retries: tuning.retries },
  });
}
