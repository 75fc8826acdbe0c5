import { publicId } from '../../server/src/common/crypto';

describe('publicId (client ids)', () => {
  it('never starts with "-", so a command line never takes it for an option', () => {
    // About one base64url draw in 64 starts with '-': 4,000 draws without the redraw would have ~60.
    const ids = Array.from({ length: 4000 }, () => publicId());
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
  });

  it('is 16 random bytes in base64url (22 characters), all different', () => {
    const ids = Array.from({ length: 1000 }, () => publicId());
    expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
