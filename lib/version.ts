// Kept in step with package.json by test/package/version.spec.ts; sent in every User-Agent.
export const SESAME_PACKAGE_VERSION = '0.1.0';
