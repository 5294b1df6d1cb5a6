// The tiny test guest (images/build-tiny): see lib/debian_image.mjs.
import { builtImage } from './debian_image.mjs';

export function tinyImage(arch = 'amd64') {
  return builtImage('build-tiny', arch);
}
