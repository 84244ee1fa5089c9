// Error codes shared by the symmetric crypto modules (aes/ccm/cbc). Every
// public function returns a length (>= 0) or one of these; none traps.

/** Authentication failed: CCM tag mismatch, or a TLS CBC record with a bad
 *  MAC, bad padding, or a length that is not a whole number of blocks /
 *  too short (all one error: RFC 5246 7.2.2 bad_record_mac). */
export const CRYPTO_ERR_AUTH: i32 = -1;
/** A parameter out of range: nonce/tag length, a negative or too large
 *  length, a CBC length that is not a multiple of 16, a TLS record larger
 *  than RFC 5246 6.2.3 allows (record_overflow). */
export const CRYPTO_ERR_LENGTH: i32 = -2;
