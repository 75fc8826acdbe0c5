/** Who performs an admin action, for its audit row: the signed-in user and their address. */
export interface Actor {
  userId: string;
  ip: string | null;
}
