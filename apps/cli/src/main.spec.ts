import { buildProgram } from './main';

describe('island CLI', () => {
  it('lists the image command group in its help', () => {
    const help = buildProgram().helpInformation();
    expect(help).toContain('image');
  });
});
