-- synlua.report.svg: the report's figures as SVG text, drawn here (no
-- plotting dependency): grouped bars with error bars, lines with points, and
-- the critical-difference diagram of Demšar (2006). Every chart is a list of
-- panels with its own axes, under one title and one legend.
--
-- Marks carry classes that tests (and style sheets) can count: every bar is
-- a <rect class="bar">, every line point a <circle class="point">, every CD
-- method a <g class="cd-method">; a missing value draws nothing.
local M = {}

local floor, ceil, log10, max, min, abs = math.floor, math.ceil, math.log10, math.max, math.min, math.abs

-- Colours of Paul Tol's "bright" scheme (distinguishable with colour-blindness).
M.PALETTE = { "#4477AA", "#EE6677", "#CCBB44", "#228833", "#66CCEE", "#AA3377", "#BBBBBB" }
-- Dash patterns of the line series, so lines that coincide stay visible.
M.DASHES = { "none", "7 3", "2 3", "10 3 2 3", "4 2", "1 2", "12 4" }

local FONT = 'font-family="Helvetica, Arial, sans-serif"'

function M.escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function n(x) -- coordinates with 2 decimals, no "-0"
  local s = ("%.2f"):format(x):gsub("%.?0+$", "")
  if s == "-0" then s = "0" end
  return s
end

local Doc = {}
Doc.__index = Doc

--- svg.doc(width, height, title) -> a document: doc:add(text) and the shape
-- helpers below, doc:tostring().
function M.doc(w, h, title)
  local d = setmetatable({ w = w, h = h, parts = {} }, Doc)
  d:add(('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" %s font-size="12">')
    :format(n(w), n(h), n(w), n(h), FONT))
  if title then d:add(("<title>%s</title>"):format(M.escape(title))) end
  d:add(('<rect x="0" y="0" width="%s" height="%s" fill="white"/>'):format(n(w), n(h)))
  return d
end

function Doc:add(s) self.parts[#self.parts + 1] = s end

local function attrs(a)
  if a == nil then return "" end
  local keys = {}
  for k in pairs(a) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = (' %s="%s"'):format(k:gsub("_", "-"), M.escape(a[k])) end
  return table.concat(out)
end

function Doc:rect(x, y, w, h, a)
  self:add(('<rect x="%s" y="%s" width="%s" height="%s"%s/>'):format(n(x), n(y), n(max(w, 0)), n(max(h, 0)), attrs(a)))
end

function Doc:line(x1, y1, x2, y2, a)
  self:add(('<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>'):format(n(x1), n(y1), n(x2), n(y2),
    attrs(a or { stroke = "black" })))
end

function Doc:circle(x, y, r, a)
  self:add(('<circle cx="%s" cy="%s" r="%s"%s/>'):format(n(x), n(y), n(r), attrs(a)))
end

function Doc:polyline(points, a)
  local p = {}
  for i, xy in ipairs(points) do p[i] = n(xy[1]) .. "," .. n(xy[2]) end
  self:add(('<polyline points="%s" fill="none"%s/>'):format(table.concat(p, " "), attrs(a)))
end

function Doc:text(x, y, s, a)
  self:add(('<text x="%s" y="%s"%s>%s</text>'):format(n(x), n(y), attrs(a), M.escape(s)))
end

function Doc:tostring()
  return table.concat(self.parts, "\n") .. "\n</svg>\n"
end

-- ------------------------------------------------------------ axes

--- svg.ticks(lo, hi [, count]) -> tick values 1, 2 or 5 x 10^k apart that
-- cover [lo, hi] with about `count` (5) intervals, and the step.
function M.ticks(lo, hi, count)
  count = count or 5
  if not (hi > lo) then hi = lo + (lo ~= 0 and abs(lo) or 1) end
  local raw = (hi - lo) / count
  local mag = 10 ^ floor(log10(raw))
  local step = mag
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if m * mag >= raw then step = m * mag; break end
  end
  local out = {}
  for i = floor(lo / step + 1e-9), ceil(hi / step - 1e-9) do out[#out + 1] = i * step end
  return out, step
end

--- svg.number(x) -> short text for a tick or a label.
function M.number(x)
  if x == 0 then return "0" end
  local a = abs(x)
  if a >= 1e7 or a < 1e-3 then return ("%.2g"):format(x) end
  if a >= 1 and x == floor(x) then return ("%d"):format(x) end
  return ("%.4g"):format(x)
end

-- About how wide a text is drawn (Helvetica averages ~0.6 em a character).
local function text_width(s, size)
  return 0.6 * size * (utf8.len(s) or #s)
end

-- The figure's title, the subtitle under it (the study's label) and the
-- legend below both; returns the y where the panels may start.
local function header(d, spec, names, colors, kind)
  d:text(d.w / 2, 22, spec.title, { text_anchor = "middle", font_size = "15", font_weight = "bold" })
  local y = 44
  if spec.subtitle then
    d:text(d.w / 2, 40, spec.subtitle, { text_anchor = "middle", fill = "#555555" })
    y = 62
  end
  if names then
    local x = 70
    for i, name in ipairs(names) do
      if kind == "line" then
        d:line(x, y - 4, x + 24, y - 4, { stroke = colors[i], stroke_width = "2",
          stroke_dasharray = M.DASHES[(i - 1) % #M.DASHES + 1] })
      else
        d:rect(x, y - 10, 12, 12, { fill = colors[i] })
      end
      d:text(x + 28, y, name)
      x = x + 42 + text_width(name, 12)
    end
  end
  return y + 6
end

-- A width that fits the title and subtitle.
local function fit_width(w, spec)
  w = max(w, text_width(spec.title or "", 15) + 40)
  if spec.subtitle then w = max(w, text_width(spec.subtitle, 12) + 40) end
  return w
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

-- The frame of a panel: title, y axis with ticks and grid, x baseline.
-- Returns y(v) for the panel.
local function panel_axes(d, px, py, pw, ph, ymin, ymax, title, ylabel)
  local ticks = M.ticks(ymin, ymax)
  local lo, hi = ticks[1], ticks[#ticks]
  local function y(v) return py + ph - (v - lo) / (hi - lo) * ph end
  d:text(px + pw / 2, py - 10, title, { text_anchor = "middle", font_weight = "bold" })
  for _, t in ipairs(ticks) do
    d:line(px, y(t), px + pw, y(t), { stroke = "#e0e0e0" })
    d:text(px - 6, y(t) + 4, M.number(t), { text_anchor = "end", font_size = "11" })
  end
  d:line(px, py, px, py + ph, { stroke = "black" })
  d:line(px, py + ph, px + pw, py + ph, { stroke = "black" })
  if ylabel then
    d:text(px - 48, py + ph / 2, ylabel, { text_anchor = "middle",
      transform = ("rotate(-90 %s %s)"):format(n(px - 48), n(py + ph / 2)) })
  end
  return y
end

-- The panel grid: up to `cols` panels a row.
local function layout(npanels, pw, ph, cols, top)
  cols = min(cols, npanels)
  local rows = ceil(npanels / cols)
  local cell_w, cell_h = pw + 90, ph + 80
  local function origin(i)
    local r, c = (i - 1) // cols, (i - 1) % cols
    return 70 + c * cell_w, top + 30 + r * cell_h
  end
  return origin, 70 + cols * cell_w - 40, top + rows * cell_h + 20
end

-- ------------------------------------------------------------ charts

--- svg.bars{title, subtitle, ylabel, series = {names}, colors, panels = {{title,
-- groups = {labels}, values = values[g][s], low = [g][s], high = [g][s]}},
-- xlabel, cols = 2} -> SVG text: in each panel, one group of bars per
-- label (one bar per series, from 0) with error bars from low to high.
function M.bars(spec)
  local S = #spec.series
  local colors = spec.colors or M.PALETTE
  local maxg = 1
  for _, p in ipairs(spec.panels) do maxg = max(maxg, #p.groups) end
  local bar_w = 10
  local group_w = S * bar_w + 14
  local pw, ph = max(220, maxg * group_w + 10), 220
  local origin, W, H = layout(#spec.panels, pw, ph, spec.cols or 2, spec.subtitle and 70 or 50)
  local d = M.doc(fit_width(W, spec), H, spec.title)
  header(d, spec, spec.series, colors, "bar")
  for i, p in ipairs(spec.panels) do
    local px, py = origin(i)
    local hi = 0
    for g = 1, #p.groups do
      for s = 1, S do
        local v = p.values[g] and p.values[g][s]
        local top = p.high and p.high[g] and p.high[g][s]
        if finite(v) then hi = max(hi, v) end
        if finite(top) then hi = max(hi, top) end
      end
    end
    local y = panel_axes(d, px, py, pw, ph, 0, hi > 0 and hi or 1, p.title, spec.ylabel)
    local gw = pw / max(#p.groups, 1)
    for g, label in ipairs(p.groups) do
      local gx = px + (g - 1) * gw + (gw - S * bar_w) / 2
      for s = 1, S do
        local v = p.values[g] and p.values[g][s]
        if finite(v) then
          local x = gx + (s - 1) * bar_w
          d:rect(x, y(v), bar_w - 1, y(0) - y(v), { class = "bar", fill = colors[s],
            data_series = spec.series[s], data_group = label, data_value = ("%.6g"):format(v) })
          local lo_v, hi_v = p.low and p.low[g] and p.low[g][s], p.high and p.high[g] and p.high[g][s]
          if finite(lo_v) and finite(hi_v) then
            local cx = x + (bar_w - 1) / 2
            d:line(cx, y(max(lo_v, 0)), cx, y(hi_v), { stroke = "black", class = "errorbar" })
            d:line(cx - 3, y(hi_v), cx + 3, y(hi_v), { stroke = "black" })
            d:line(cx - 3, y(max(lo_v, 0)), cx + 3, y(max(lo_v, 0)), { stroke = "black" })
          end
        end
      end
      d:text(px + (g - 0.5) * gw, py + ph + 16, label, { text_anchor = "middle", font_size = "11" })
    end
    if spec.xlabel then d:text(px + pw / 2, py + ph + 34, spec.xlabel, { text_anchor = "middle" }) end
  end
  return d:tostring()
end

--- svg.lines{title, subtitle, xlabel, ylabel, series = {names}, colors, panels =
-- {{title, x = {labels}, values = values[s][i]}}, cols = 3} -> SVG text:
-- x positions equally spaced (categories such as sequence lengths or
-- epochs), a polyline and points per series; a missing value breaks the line.
function M.lines(spec)
  local colors = spec.colors or M.PALETTE
  local pw, ph = spec.width or 260, 200
  local origin, W, H = layout(#spec.panels, pw, ph, spec.cols or 3, spec.subtitle and 70 or 50)
  local d = M.doc(fit_width(W, spec), H, spec.title)
  header(d, spec, spec.series, colors, "line")
  for i, p in ipairs(spec.panels) do
    local px, py = origin(i)
    local lo, hi = math.huge, -math.huge
    for s = 1, #spec.series do
      for _, v in pairs(p.values[s] or {}) do
        if finite(v) then lo, hi = min(lo, v), max(hi, v) end
      end
    end
    if lo > hi then lo, hi = 0, 1 end
    if spec.from_zero ~= false then lo = min(lo, 0) end
    local y = panel_axes(d, px, py, pw, ph, lo, hi, p.title, spec.ylabel)
    local nx = #p.x
    local function x(j) return nx == 1 and px + pw / 2 or px + 10 + (j - 1) * (pw - 20) / (nx - 1) end
    local every = max(1, ceil(nx / 12))   -- at most about 12 x labels
    for j, label in ipairs(p.x) do
      if (j - 1) % every == 0 or j == nx then
        d:text(x(j), py + ph + 16, tostring(label), { text_anchor = "middle", font_size = "11" })
      end
    end
    for s = 1, #spec.series do
      local vals = p.values[s] or {}
      local run = {}
      local function flush()
        if #run > 1 then
          d:polyline(run, { stroke = colors[s], stroke_width = "2", class = "line",
            stroke_dasharray = M.DASHES[(s - 1) % #M.DASHES + 1] })
        end
        run = {}
      end
      for j = 1, nx do
        local v = vals[j]
        if finite(v) then
          run[#run + 1] = { x(j), y(v) }
          d:circle(x(j), y(v), 3, { class = "point", fill = colors[s], data_series = spec.series[s],
            data_x = tostring(p.x[j]), data_value = ("%.6g"):format(v) })
        else
          flush()
        end
      end
      flush()
    end
    if spec.xlabel then d:text(px + pw / 2, py + ph + 34, spec.xlabel, { text_anchor = "middle" }) end
  end
  return d:tostring()
end

--- svg.cd_diagram{title, subtitle, note, names = {...}, ranks = {...}, cd = CD, k, n} -> SVG
-- text: the mean ranks on an axis from 1 (best, left) to k, the critical
-- difference as a bar, and a thick line under each maximal group of methods
-- whose mean ranks differ by less than CD (not significantly different).
function M.cd_diagram(spec)
  local k = #spec.names
  local order = {}
  for i = 1, k do order[i] = i end
  table.sort(order, function(a, b)
    if spec.ranks[a] ~= spec.ranks[b] then return spec.ranks[a] < spec.ranks[b] end
    return a < b
  end)
  local label_w = 30
  for j = 1, k do label_w = max(label_w, text_width(("%s (%.2f)"):format(spec.names[j], spec.ranks[j]), 12) + 30) end
  local W = fit_width(2 * label_w + 360, spec)
  local left, right = label_w, W - label_w
  local top = spec.subtitle and 110 or 90
  local notes = {}
  if spec.note then   -- wrapped to the width
    local line = ""
    for word in spec.note:gmatch("%S+") do
      if line ~= "" and text_width(line .. " " .. word, 11) > W - 40 then
        notes[#notes + 1] = line
        line = word
      else
        line = line == "" and word or line .. " " .. word
      end
    end
    notes[#notes + 1] = line
  end
  local H = top + 50 + 18 * ceil(k / 2) + 6 * k + 16 * #notes
  local d = M.doc(W, H, spec.title)
  header(d, spec)
  local function x(r) return left + (r - 1) / max(k - 1, 1) * (right - left) end
  d:line(left, top, right, top, { stroke = "black" })
  for r = 1, k do
    d:line(x(r), top - 5, x(r), top, { stroke = "black" })
    d:text(x(r), top - 9, tostring(r), { text_anchor = "middle", font_size = "11" })
  end
  if finite(spec.cd) then
    local cd_end = min(1 + spec.cd, k + 0.0)
    d:line(x(1), top - 35, x(cd_end), top - 35, { stroke = "black", stroke_width = "2", class = "cd-bar" })
    d:line(x(1), top - 40, x(1), top - 30, { stroke = "black" })
    d:line(x(cd_end), top - 40, x(cd_end), top - 30, { stroke = "black" })
    d:text((x(1) + x(cd_end)) / 2, top - 44, ("CD = %.3f"):format(spec.cd), { text_anchor = "middle", font_size = "11" })
  end
  -- cliques: maximal runs of the sorted methods spanning less than CD
  local cliques = {}
  if finite(spec.cd) then
    for a = 1, k do
      local b = a
      while b < k and spec.ranks[order[b + 1]] - spec.ranks[order[a]] < spec.cd do b = b + 1 end
      if b > a and (#cliques == 0 or b > cliques[#cliques][2]) then cliques[#cliques + 1] = { a, b } end
    end
  end
  for i, c in ipairs(cliques) do
    local yy = top + 10 + 6 * (i - 1)
    d:line(x(spec.ranks[order[c[1]]]) - 3, yy, x(spec.ranks[order[c[2]]]) + 3, yy,
      { stroke = "black", stroke_width = "3", class = "clique" })
  end
  local base = top + 20 + 6 * #cliques
  local half = ceil(k / 2)
  for pos, j in ipairs(order) do
    local r = spec.ranks[j]
    local on_left = pos <= half
    local row = on_left and pos or (k - pos + 1)
    local yy = base + 18 * row
    d:add('<g class="cd-method">')
    d:line(x(r), top, x(r), yy, { stroke = "#555555" })
    if on_left then
      d:line(x(r), yy, left - 10, yy, { stroke = "#555555" })
      d:text(left - 14, yy + 4, ("%s (%.2f)"):format(spec.names[j], r), { text_anchor = "end" })
    else
      d:line(x(r), yy, right + 10, yy, { stroke = "#555555" })
      d:text(right + 14, yy + 4, ("%s (%.2f)"):format(spec.names[j], r), { text_anchor = "start" })
    end
    d:add("</g>")
  end
  for i, l in ipairs(notes) do
    d:text(W / 2, H - 8 - 16 * (#notes - i), l, { text_anchor = "middle", font_size = "11" })
  end
  return d:tostring()
end

return M
