using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace HaClient.AspNetCore;

/// <summary>Binds the <c>HighAvailability</c> section, after checking its shape so that an unknown key or a
/// malformed value becomes a start-up validation error that names its path instead of a binder exception.</summary>
internal sealed class HighAvailabilityConfigureOptions : IConfigureOptions<HighAvailabilityOptions>
{
    private readonly IConfigurationSection _section;

    public HighAvailabilityConfigureOptions(IConfigurationSection section) => _section = section;

    public void Configure(HighAvailabilityOptions options)
    {
        var errors = new List<string>();
        ConfigurationShapeValidator.Validate(_section, typeof(HighAvailabilityOptions), _section.Path, errors);
        if (errors.Count > 0)
        {
            options.ConfigurationErrors.AddRange(errors);
            return;
        }

        try
        {
            _section.Bind(options, static b => b.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException)
        {
            // The shape check should have caught it; the binder's message may quote a value, so it is not repeated.
            options.ConfigurationErrors.Add($"{_section.Path}: could not be bound to {nameof(HighAvailabilityOptions)}.");
        }
    }
}
