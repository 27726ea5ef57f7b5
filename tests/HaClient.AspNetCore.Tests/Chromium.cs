using Xunit;

namespace HaClient.AspNetCore.Tests;

/// <summary>A fact that is skipped, saying why, when Debian's Chromium is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!File.Exists(Chromium.Path))
        {
            Skip = $"{Chromium.Path} is absent: install Debian's chromium (apt-get install chromium) to run the topology page test.";
        }
    }
}

/// <summary>Headless Chromium (Debian's package): a page's DOM after its scripts ran, and screenshots.</summary>
public static class Chromium
{
    public const string Path = "/usr/bin/chromium";

    /// <summary>Loads <paramref name="url"/>, lets its scripts run for 4 s of virtual time and returns the DOM.</summary>
    public static Task<string> DumpDomAsync(Uri url) => RunAsync($"--virtual-time-budget=4000 --dump-dom {url}");

    /// <summary>Saves a screenshot of <paramref name="url"/> (after 4 s of virtual time) to <paramref name="file"/>.</summary>
    public static Task ScreenshotAsync(Uri url, string file, int width = 1000, int height = 600)
        => RunAsync($"--virtual-time-budget=4000 --hide-scrollbars --window-size={width},{height} --screenshot={file} {url}");

    private static async Task<string> RunAsync(string arguments)
    {
        var profile = Directory.CreateTempSubdirectory("haclient-chromium-");
        try
        {
            var (_, stdout, _) = await Processes.RunAsync(Path,
                $"--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --user-data-dir={profile.FullName} {arguments}",
                TimeSpan.FromSeconds(60));
            return stdout;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
