/** Every non-2xx answer of broker protocol v1: `{"error": {"code", "message"}}`. */
export interface WireErrorBody {
  error: { code: string; message: string };
}
