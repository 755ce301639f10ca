/** The file in the data directory where the first start leaves the generated admin token for the local CLI. */
export const ADMIN_TOKEN_FILE = 'admin-token';
