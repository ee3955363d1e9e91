module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'blockstore',
  rootDir: __dirname,
};
