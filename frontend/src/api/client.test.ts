import { describe, expect, it } from "vitest";
import { ApiError, errorFromBody, toApiError } from "./client";

describe("API errors in words", () => {
  it("uses the server's {code, message, extra}", () => {
    const e = errorFromBody(400, { code: "box_empty", message: "box has zero width", extra: {} });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("box_empty");
    expect(e.message).toBe("box has zero width");
  });

  it("spells out field errors", () => {
    const e = errorFromBody(400, {
      code: "invalid",
      message: "The request is invalid.",
      extra: { fields: { username: ["This field is required."], non_field_errors: ["Bad."] } },
    });
    expect(e.message).toBe("The request is invalid. username: This field is required.; Bad.");
  });

  it("explains an ended session and a failed CSRF check", () => {
    expect(errorFromBody(403, { code: "not_authenticated", message: "x", extra: {} }).message).toMatch(/log in again/);
    expect(errorFromBody(403, { code: "not_authenticated", message: "x", extra: {} }).isAuth).toBe(true);
    expect(errorFromBody(403, { code: "csrf_failed", message: "x", extra: {} }).message).toMatch(/Reload the page/);
  });

  it("covers bodies that are not the error shape", () => {
    expect(errorFromBody(502, null).message).toMatch(/server failed.*HTTP 502/);
    expect(errorFromBody(418, "teapot").message).toBe("The request failed (HTTP 418).");
  });

  it("maps thrown things: network failures, aborts, anything else", () => {
    expect(toApiError(new TypeError("Failed to fetch")).code).toBe("network");
    expect(toApiError(new DOMException("x", "AbortError")).isAbort).toBe(true);
    expect(toApiError(new Error("boom")).message).toBe("boom");
    const e = new ApiError(409, "stale", "Someone saved first.");
    expect(toApiError(e)).toBe(e);
  });
});
