// The whole suite: every project's tests in one Jest run (npm test).
module.exports = {
  projects: ['<rootDir>/apps/*/jest.config.js', '<rootDir>/libs/*/jest.config.js', '<rootDir>/tools/*/jest.config.js'],
  maxWorkers: 2,
  // most tests drive real tools (qemu-img, PostgreSQL, Swift) on a 2-core machine that runs suites in parallel
  testTimeout: 30_000,
};
