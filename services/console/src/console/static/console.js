// Live Open Orders (server-sent events), select-all, and keyboard shortcuts for the grid.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-live]");
  const grid = document.getElementById("orders-grid");
  if (live && grid) {
    const source = new EventSource(live.dataset.live);
    source.addEventListener("order", (event) => addRow(grid, JSON.parse(event.data)));
  }
  const all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", () => {
      all.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach((box) => { box.checked = all.checked; });
    });
  }
  if (grid) gridKeys(grid);
});

function addRow(grid, order) {
  const body = grid.tBodies[0];
  if (body.querySelector(`tr[data-order-id="${order.order_id}"]`)) return;
  body.querySelector("tr.empty")?.remove();
  const tr = document.createElement("tr");
  tr.dataset.orderId = order.order_id;
  tr.className = "new";
  const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
  const pick = document.createElement("td");
  const box = document.createElement("input");
  Object.assign(box, { type: "checkbox", name: "order_id", value: order.order_id });
  box.setAttribute("form", "batch");
  pick.append(box);
  const number = document.createElement("td");
  const link = document.createElement("a");
  link.href = `/orders/${order.order_id}`;
  link.textContent = order.order_number;
  number.append(link);
  const badges = document.createElement("td");
  for (const [flag, label, cls] of [[!order.paid, "unpaid", "unpaid"], [order.parked, "parked", "parked"],
                                    [order.locked, "locked", "locked"], [order.out_of_stock, "out of stock", "oos"]]) {
    if (flag) { const b = document.createElement("span"); b.className = `badge ${cls}`; b.textContent = label; badges.append(b, " "); }
  }
  tr.append(pick, number, cell(order.channel), cell(order.buyer), cell(order.country), cell(order.total, "num"),
            badges, cell(order.opened_at.slice(0, 16).replace("T", " ")));
  body.prepend(tr);
  const total = document.querySelector("[data-testid=open-total]");
  if (total) total.textContent = String(Number(total.textContent) + 1);
}

function gridKeys(grid) {
  let at = -1;
  const rows = () => Array.from(grid.tBodies[0].rows).filter((r) => r.dataset.orderId);
  const move = (by) => {
    const all = rows();
    if (!all.length) return;
    all[at]?.classList.remove("cursor");
    at = Math.max(0, Math.min(all.length - 1, at + by));
    all[at].classList.add("cursor");
    all[at].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (event) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) return;
    const current = rows()[at];
    if (event.key === "j") move(1);
    else if (event.key === "k") move(-1);
    else if (event.key === "x" && current) { const box = current.querySelector("input[type=checkbox]"); if (box) box.checked = !box.checked; }
    else if (event.key === "Enter" && current) window.location = `/orders/${current.dataset.orderId}`;
    else if (event.key === "/") { event.preventDefault(); document.querySelector("[data-search]")?.focus(); }
  });
}
