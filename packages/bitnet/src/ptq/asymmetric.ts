// Asymmetric ternary: a per-row zero point beta, so the three levels of row r are
// beta_r - alpha, beta_r, beta_r + alpha instead of -alpha, 0, alpha (BITNET.md section 2):
//
//   W ~ alpha * T + beta        beta_r = mean(w_r) to start with
//
// The codes are chosen on the centered rows W - beta by any symmetric method (absmean, TWN).
// Without a refit beta stays the channel mean; with a refit ('absmean-refit', 'twn-refit')
// alpha and beta are fitted jointly by least squares for those codes (refit.ts), which moves
// beta off the mean when the codes are unbalanced (more +1 than -1 in a row).

/** The mean of each row of W [rows, cols]: the starting zero point. */
export function channelMeans(w: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const beta = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]!;
    beta[r] = s / cols;
  }
  return beta;
}

/** W - beta (each row minus its zero point), the matrix the symmetric methods then quantize. */
export function centerRows(w: ArrayLike<number>, rows: number, cols: number, beta: Float32Array): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = w[r * cols + c]! - beta[r]!;
  return out;
}
