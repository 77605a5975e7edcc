// Public surface of the rclone crypt implementation (see docs/formats.md, section 9, and the
// reference's §1–§7). Internals such as the name encodings and version-tag helpers stay private.
export { type RcloneErrorCode, RcloneCryptError, isRcloneCryptError } from "./errors.js";
export { type PasswordInput, type RcloneKeys, RCLONE_DEFAULT_SALT, deriveRcloneKeys, deriveRcloneKeysSync } from "./keys.js";
export {
  CHUNK_CIPHER_SIZE,
  CHUNK_PLAIN_SIZE,
  CHUNK_TAG_SIZE,
  type EncryptOptions,
  HEADER_SIZE,
  NONCE_SIZE,
  RCLONE_MAGIC,
  decryptContents,
  decryptedSize,
  encryptContents,
  encryptedSize,
  nonceAdd,
  parseHeader,
} from "./contents.js";
export {
  ContentDecryptor,
  ContentEncryptor,
  type Sink,
  createDecryptStream,
  createEncryptStream,
  decryptStream,
  encryptStream,
} from "./contents-stream.js";
export { emeTransform, type EmeDirection } from "./eme.js";
export {
  type FilenameEncoding,
  type FilenameEncryption,
  type NameOptions,
  OFF_MODE_SUFFIX,
  RcloneNameCipher,
} from "./names.js";
export { obscure, reveal, revealBytes } from "./obscure.js";
