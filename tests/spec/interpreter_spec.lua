-- The synlua interpreter as a user meets it: options, the arg table, the
-- preloaded module, exit statuses, error messages with tracebacks, the REPL.
-- Runs the binary named by SYNLUA_BIN (set by tests/CMakeLists.txt).
local sy = require("synlua")

local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = assert(os.getenv("SYNLUA_SOURCE_DIR"), "SYNLUA_SOURCE_DIR is not set")

local util = require("testutil")
local quote, slurp, tempfile = util.quote, util.slurp, util.tempfile

-- Runs synlua with the given arguments and stdin text (none: /dev/null);
-- returns stdout, stderr and the exit status.
local function synlua(args, stdin)
  local cmd = { quote(BIN) }
  -- Under the sanitizers synlua closes its state before exiting, so unlike
  -- the lua5.4 running this spec it can have its leaks checked.
  if os.getenv("ASAN_OPTIONS") then table.insert(cmd, 1, "ASAN_OPTIONS=detect_leaks=1") end
  for _, a in ipairs(args) do cmd[#cmd + 1] = quote(a) end
  local errpath = tempfile()
  cmd[#cmd + 1] = "<" .. (stdin and tempfile(stdin) or "/dev/null")
  cmd[#cmd + 1] = "2>" .. errpath
  local p = assert(io.popen(table.concat(cmd, " "), "r"))
  local out = p:read("a")
  local _, how, code = p:close()
  assert.equals("exit", how, "synlua was killed by a signal")
  return out, slurp(errpath), code
end

local function escape(s)
  return (s:gsub("%p", "%%%0"))
end

teardown(util.cleanup)

describe("synlua options", function()
  it("-v prints the synlua and Lua versions", function()
    local out, err, code = synlua({ "-v" })
    assert.equals(0, code)
    assert.matches("^synlua " .. escape(sy.version) .. " %(Lua 5%.4%.%d+%)\n$", out)
    assert.equals("", err)
  end)

  it("-e runs several statements in order, attached or separate", function()
    local out, _, code = synlua({ "-e", "io.write('a')", "-eio.write('b')", "-e", "io.write('c')" })
    assert.equals(0, code)
    assert.equals("abc", out)
  end)

  it("runs a script with arg set like lua(1) and the arguments as ...", function()
    local script = tempfile([[
print(arg[0], arg[1], arg[2], #arg, select("#", ...), ...)
print(arg[-1], arg[-2], arg[-3], arg[-4])
]])
    local out, err, code = synlua({ "-e", "x=1", script, "a", "b c" })
    assert.equals(0, code, err)
    assert.equals(script .. "\ta\tb c\t2\t2\ta\tb c\n"
                  .. "x=1\t-e\t" .. BIN .. "\tnil\n", out)
  end)

  it("passes options after the script to the script", function()
    local script = tempfile("print(#arg, arg[1], arg[2])")
    local out, _, code = synlua({ script, "-v", "-x" })
    assert.equals(0, code)
    assert.equals("2\t-v\t-x\n", out)
  end)

  it("-- ends the options, - runs stdin with arg[0] = '-'", function()
    local script = tempfile("print(arg[0], ...)")
    local out, _, code = synlua({ "--", script, "q" })
    assert.equals(0, code)
    assert.equals(script .. "\tq\n", out)
    out, _, code = synlua({ "-", "q" }, "print(arg[0], ...)")
    assert.equals(0, code)
    assert.equals("-\tq\n", out)
  end)

  it("runs stdin as a script when given no arguments and stdin is not a terminal", function()
    local out, _, code = synlua({}, "print(6 * 7)")
    assert.equals(0, code)
    assert.equals("42\n", out)
  end)

  it("rejects an unknown option with the usage on stderr and status 1", function()
    local out, err, code = synlua({ "-x" })
    assert.equals(1, code)
    assert.equals("", out)
    assert.matches("unrecognized option '%-x'", err)
    assert.matches("usage: synlua %[options%] %[script %[args%]%]", err)
    out, err, code = synlua({ "--help" })
    assert.equals(1, code)
    assert.matches("unrecognized option '%-%-help'", err)
  end)

  it("rejects -e without a statement", function()
    local _, err, code = synlua({ "-e" })
    assert.equals(1, code)
    assert.matches("'%-e' needs an argument", err)
  end)

  it("keeps os.exit's status", function()
    local _, _, code = synlua({ "-e", "os.exit(3)" })
    assert.equals(3, code)
  end)
end)

describe("synlua preloads the module", function()
  it("has synlua loaded before the script runs, and require returns it", function()
    local out, err, code = synlua({ "-e", [[
      local loaded = package.loaded.synlua
      local sy = require("synlua")
      print(loaded ~= nil, sy == loaded, sy.tensor({ { 1, 2 }, { 3, 4 } }):numel())]] })
    assert.equals(0, code, err)
    assert.equals("true\ttrue\t4\n", out)
  end)

  it("uses the linked-in core, not a core.so from LUA_CPATH", function()
    local out, _, code = synlua({ "-e", [[
      print(package.preload["synlua.core"] ~= nil, require("synlua.core") == require("synlua"))]] })
    assert.equals(0, code)
    assert.equals("true\ttrue\n", out)
  end)

  it("finds the Lua files of the checkout when not installed", function()
    local out, _, code = synlua({ "-e", [[print(package.searchpath("synlua", package.path))]] })
    assert.equals(0, code)
    assert.equals(SOURCE_DIR .. "/lua/synlua/init.lua\n", out)
  end)
end)

describe("synlua errors", function()
  it("prints synlua: <message> and a traceback, status 1", function()
    local script = tempfile([[
local function inner() error("boom") end
local function outer() inner() end
outer()
print("not reached")
]])
    local out, err, code = synlua({ script })
    assert.equals(1, code)
    assert.equals("", out)
    assert.matches("^synlua: " .. escape(script) .. ":1: boom\nstack traceback:\n", err)
    assert.matches(escape(script) .. ":1: in upvalue 'inner'", err)
    assert.matches(escape(script) .. ":2: in local 'outer'", err)
    assert.matches(escape(script) .. ":3: in main chunk", err)
  end)

  it("reports errors from -e chunks and stops before the script", function()
    local script = tempfile("print('script ran')")
    local out, err, code = synlua({ "-e", "error('first')", script })
    assert.equals(1, code)
    assert.equals("", out)
    assert.matches("^synlua: %(command line%):1: first\nstack traceback:", err)
  end)

  it("names error objects that are not strings", function()
    local _, err, code = synlua({ "-e", "error({})" })
    assert.equals(1, code)
    assert.matches("^synlua: %(error object is a table value%)", err)
    _, err, code = synlua({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom' end}))" })
    assert.equals(1, code)
    assert.equals("synlua: custom\n", err)
  end)

  it("reports a syntax error in a script with its file and line", function()
    local script = tempfile("local x = 1\nx = = 2\n")
    local _, err, code = synlua({ script })
    assert.equals(1, code)
    assert.matches("^synlua: " .. escape(script) .. ":2: unexpected symbol near '='", err)
  end)

  it("says clearly that a script does not exist", function()
    local out, err, code = synlua({ "/nonexistent/dir/study.lua" })
    assert.equals(1, code)
    assert.equals("", out)
    assert.equals("synlua: cannot open /nonexistent/dir/study.lua: No such file or directory\n", err)
  end)

  it("reports a synlua error raised from C with its message", function()
    local _, err, code = synlua({ "-e", "local sy = require('synlua'); sy.zeros(-1)" })
    assert.equals(1, code)
    assert.matches("^synlua: %(command line%):1: .*negative", err)
    assert.matches("stack traceback:", err)
  end)

  it("turns Ctrl-C into an 'interrupted!' error", function()
    local marker = tempfile()
    os.remove(marker)
    local errpath = tempfile()
    -- Wait until the script runs (so the handler is installed), then interrupt.
    local sh = table.concat({
      quote(BIN), "-e", quote("io.open(" .. string.format("%q", marker) .. ", 'w'):close() while true do end"),
      "</dev/null 2>" .. errpath, "& pid=$!;",
      "i=0; while [ ! -e " .. quote(marker) .. " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done;",
      "kill -INT $pid; wait $pid; echo $?" }, " ")
    local p = assert(io.popen("sh -c " .. quote(sh), "r"))
    local status = p:read("a")
    p:close()
    os.remove(marker)
    assert.equals("1\n", status)
    assert.matches("^synlua: interrupted!\nstack traceback:\n\t%(command line%):1: in main chunk", slurp(errpath))
  end)

  it("never crashes on junk input, as a script or in the REPL", function()
    math.randomseed(7)
    for _ = 1, 5 do
      local bytes = {}
      for i = 1, 2000 do bytes[i] = string.char(math.random(0, 255)) end
      local junk = table.concat(bytes)
      local _, err, code = synlua({ tempfile(junk) })
      assert.equals(1, code)
      assert.matches("^synlua: ", err)
      _, err, code = synlua({ "-i" }, junk)
      assert.equals(0, code)
      assert.not_matches("Sanitizer", err)
    end
  end)
end)

describe("synlua -i", function()
  it("prints the value of an expression, with or without return", function()
    local out, err, code = synlua({ "-i" }, "return 1+1\n2*3\n")
    assert.equals(0, code, err)
    assert.equals("2\n6\n", out)
    assert.equals("", err)
  end)

  it("prints several values separated by tabs, nothing for statements", function()
    local out = synlua({ "-i" }, "x = 5\nx, 'a', nil\nlocal y = 2\n")
    assert.equals("5\ta\tnil\n", out)
  end)

  it("reads incomplete statements over several lines", function()
    local out = synlua({ "-i" }, "for i = 1, 3 do\n  io.write(i)\nend\nt = {\n1,\n2}\n#t\n")
    assert.equals("1232\n", out)
  end)

  it("prints an error with its traceback and goes on", function()
    local out, err, code = synlua({ "-i" }, "error('oops')\n40 + 2\nx = = 1\n1\n")
    assert.equals(0, code)
    assert.equals("42\n1\n", out)
    assert.matches("^synlua: stdin:1: oops\nstack traceback:", err)
    assert.matches("synlua: stdin:1: unexpected symbol near '='", err)
  end)

  it("reports a statement left incomplete at the end of input", function()
    local _, err, code = synlua({ "-i" }, "function f(\n")
    assert.equals(0, code)
    assert.matches("synlua: stdin:1: <name> or '...' expected near <eof>", err)
  end)

  it("has the module as the global sy and prints tensors", function()
    local out = synlua({ "-i" }, "sy == require('synlua')\nsy.tensor({1, 2})\n")
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals("true", lines[1])
    assert.equals(tostring(sy.tensor({ 1, 2 })), lines[2])
  end)

  it("reads lines longer than its buffer", function()
    local name = string.rep("v", 5000)
    local out = synlua({ "-i" }, name .. " = 3\n" .. name .. "\n")
    assert.equals("3\n", out)
  end)

  it("runs the script first, then the REPL in the same state", function()
    local script = tempfile("y = 4")
    local out, _, code = synlua({ "-i", script }, "y * 10\n")
    assert.equals(0, code)
    assert.equals("40\n", out)
  end)
end)

describe("README", function()
  it("the first script prints what the README says it prints", function()
    local readme = slurp(SOURCE_DIR .. "/README.md")
    local section = assert(readme:match("\n## A first script\n(.-)\n## "), "no 'A first script' section")
    local script = assert(section:match("```lua\n(.-)```"), "no Lua block")
    local expected = assert(section:match("```text\n(.-)```"), "no output block")
    local out, err, code = synlua({ tempfile(script) })
    assert.equals(0, code, err)
    assert.equals(expected, out)
  end)
end)
