module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'snapshot-worker',
  rootDir: __dirname,
};
