// The whole suite: every project's tests in one Jest run (npm test).
module.exports = {
  projects: ['<rootDir>/apps/*/jest.config.js', '<rootDir>/libs/*/jest.config.js', '<rootDir>/tools/*/jest.config.js'],
  maxWorkers: 2,
};
