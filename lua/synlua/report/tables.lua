-- synlua.report.tables: one table model written three ways. A table is
-- { headers = {...}, rows = { {cell, ...}, ... }, align = {"l" | "r", ...} }
-- with cells already formatted as text; Markdown and HTML escape what they
-- must, CSV quotes what it must.
local M = {}

local function md_cell(s)
  return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

--- tables.markdown(t) -> GitHub-flavoured Markdown.
function M.markdown(t)
  local lines = {}
  local head, rule = {}, {}
  for i, h in ipairs(t.headers) do
    head[i] = md_cell(h)
    rule[i] = (t.align and t.align[i] == "r") and "---:" or "---"
  end
  lines[1] = "| " .. table.concat(head, " | ") .. " |"
  lines[2] = "|" .. table.concat(rule, "|") .. "|"
  for _, r in ipairs(t.rows) do
    local cells = {}
    for i = 1, #t.headers do cells[i] = md_cell(r[i] or "") end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n") .. "\n"
end

local function csv_cell(s)
  s = tostring(s or "")
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- tables.csv(headers, rows) -> CSV text (rows of raw values; nil -> empty).
function M.csv(headers, rows)
  local lines = {}
  local h = {}
  for i, name in ipairs(headers) do h[i] = csv_cell(name) end
  lines[1] = table.concat(h, ",")
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #headers do cells[i] = csv_cell(r[i]) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.html_escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

--- tables.html(t [, class]) -> an HTML <table>; t.group_col (a column
-- index) starts a new row group (a top border) where its cell is not empty.
function M.html(t, class)
  local out = { ('<table class="%s">'):format(class or "results"), "<thead><tr>" }
  for i, h in ipairs(t.headers) do
    out[#out + 1] = ('<th%s>%s</th>'):format((t.align and t.align[i] == "r") and ' class="num"' or "", M.html_escape(h))
  end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, r in ipairs(t.rows) do
    local starts = t.group_col and (r[t.group_col] or "") ~= ""
    out[#out + 1] = starts and '<tr class="group">' or "<tr>"
    for i = 1, #t.headers do
      out[#out + 1] = ('<td%s>%s</td>'):format((t.align and t.align[i] == "r") and ' class="num"' or "",
        M.html_escape(r[i] or ""))
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out, "\n") .. "\n"
end

return M
