import { describe, expect, it } from "vitest";
import { currentCursor, firstPage, nextPage, pageSelection, previousPage, rangeText, toggleAll, toggleOne } from "./pager";

describe("keyset pages", () => {
  it("goes forward with the backend's cursor and back with the cursors it kept", () => {
    let p = firstPage();
    expect(currentCursor(p)).toBeNull();
    p = nextPage(p, "c1");
    p = nextPage(p, "c2");
    expect(currentCursor(p)).toBe("c2");
    expect(rangeText(p, 50, 10, 110)).toBe("Rows 101–110 of 110");
    p = previousPage(p);
    expect(currentCursor(p)).toBe("c1");
    p = nextPage(p, "c2b");
    expect(p.cursors).toEqual([null, "c1", "c2b"]);
    expect(nextPage(p, null)).toBe(p);
    expect(previousPage(firstPage())).toEqual(firstPage());
    expect(rangeText(firstPage(), 50, 0)).toBe("No rows");
  });

  it("selects all rows of a page, or clears them when all were selected", () => {
    const some = new Set([1, 9]);
    const all = toggleAll(some, [1, 2, 3]);
    expect([...all].sort()).toEqual([1, 2, 3, 9]);
    expect(pageSelection(all, [1, 2, 3])).toBe("all");
    expect([...toggleAll(all, [1, 2, 3])]).toEqual([9]);
    expect(pageSelection(some, [1, 2, 3])).toBe("some");
    expect(pageSelection(new Set(), [1])).toBe("none");
    expect([...toggleOne(some, 9)]).toEqual([1]);
  });
});
