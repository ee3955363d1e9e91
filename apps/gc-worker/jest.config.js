module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'gc-worker',
  rootDir: __dirname,
};
