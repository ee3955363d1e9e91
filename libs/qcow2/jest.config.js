module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'qcow2',
  rootDir: __dirname,
};
