// Shared Jest settings: SWC transpiles TypeScript (decorator metadata included) and
// @island/* imports resolve to library sources, so tests never need a prior build.
const path = require('node:path');
const fs = require('node:fs');

const swcConfig = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcConfig, swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@island/catalog/testing$': path.join(__dirname, 'libs/catalog/src/testing/test-database.ts'),
    '^@island/contracts/testing$': path.join(__dirname, 'libs/contracts/src/testing/contract-fields.ts'),
    '^@island/(.*)$': path.join(__dirname, 'libs/$1/src/index.ts'),
  },
  testMatch: ['<rootDir>/**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // for single-project runs (nx test); the whole suite sets it in jest.config.js, where Jest reads it
  testTimeout: 30_000,
};
