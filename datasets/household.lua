-- UCI Individual household electric power consumption. The study uses the
-- hourly resample (sums over the minutes of each hour, previous-day gap fill;
-- see ../shared/datasets/PROVENANCE.md). The original minute file
-- (household_power_consumption.txt: ';'-separated, '?' = missing, Date
-- dd/mm/yyyy and Time columns) loads too: the same options read both, and
-- Date + Time are joined into datetime when present.
return {
  name = "household",
  title = "Individual household electric power consumption (UCI), hourly sums",
  file = "household_power_hourly.csv",
  sha256 = "ae95f41e6c7dea54edd737cd8a7013746578680e9ef11805b7d705d6d7a86b04",
  bytes = 3051857,
  source = "UCI Machine Learning Repository, 'Individual household electric power consumption' "
    .. "(G. Hebrail, A. Berard), resampled to hourly sums; copy of household_power_consumption_hourly.csv "
    .. "from github.com/TeshomeBalkew/HouseELctrcty_consumption_project (commit 0314dcd)",
  url = "https://raw.githubusercontent.com/TeshomeBalkew/HouseELctrcty_consumption_project/"
    .. "0314dcd01c841908c6825b756a77daf102e3df89/household_power_consumption_hourly.csv",
  licence = "CC BY 4.0 (cite the UCI dataset and its authors; the data were resampled and gap-filled)",
  alternatives = { "household_power_consumption.txt" },
  csv = { na = { "?" }, dayfirst = true },
  combine = { date = "Date", time = "Time", into = "datetime" },
  time = "datetime",
  target = "Global_active_power",
  rows = 34589,
  columns = { "datetime", "Global_active_power", "Global_reactive_power", "Voltage", "Global_intensity",
    "Sub_metering_1", "Sub_metering_2", "Sub_metering_3" },
}
