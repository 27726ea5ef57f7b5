using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace HaClient.AspNetCore;

/// <summary>
/// Checks a configuration section against the shape of an options type before it is bound: every key must be a known
/// setting, every value must convert to its setting's type. Errors name the full path (<c>HighAvailability:Postgres:main:Hosts[1]</c>)
/// and never quote a value, so a misplaced password never reaches a log.
/// </summary>
internal static class ConfigurationShapeValidator
{
    /// <summary>Appends an error for each unknown key or unconvertible value under <paramref name="section"/>.</summary>
    public static void Validate(IConfigurationSection section, Type type, string path, List<string> errors)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsScalar(type))
        {
            CheckScalar(section, type, path, errors);
            return;
        }

        var children = section.GetChildren().ToList();
        if (children.Count == 0 && !string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{path}: must be a section of settings, not a single value.");
            return;
        }

        if (DictionaryValueType(type) is { } valueType)
        {
            foreach (var child in children)
            {
                Validate(child, valueType, $"{path}:{child.Key}", errors);
            }

            return;
        }

        if (ElementType(type) is { } elementType)
        {
            foreach (var child in children)
            {
                if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    errors.Add($"{path}:{child.Key}: is not a list index; {path} is a list.");
                    continue;
                }

                Validate(child, elementType, $"{path}[{child.Key}]", errors);
            }

            return;
        }

        foreach (var child in children)
        {
            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || property.GetIndexParameters().Length > 0)
            {
                errors.Add($"{path}:{child.Key}: is not a known setting (unknown configuration key).");
                continue;
            }

            Validate(child, property.PropertyType, $"{path}:{child.Key}", errors);
        }
    }

    private static void CheckScalar(IConfigurationSection section, Type type, string path, List<string> errors)
    {
        if (section.GetChildren().Any())
        {
            errors.Add($"{path}: must be a single value, not a section.");
            return;
        }

        var value = section.Value;
        if (string.IsNullOrEmpty(value) || type == typeof(string))
        {
            return;
        }

        bool ok;
        try
        {
            ok = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value) is not null;
        }
        catch (Exception)
        {
            ok = false;
        }

        if (!ok)
        {
            errors.Add($"{path}: is not a valid {Describe(type)}.");
        }
    }

    private static string Describe(Type type)
    {
        if (type == typeof(TimeSpan))
        {
            return "time span; write it as [d.]hh:mm:ss[.fff], e.g. 00:00:05 for 5 seconds";
        }

        if (type == typeof(bool))
        {
            return "boolean (true or false)";
        }

        if (type.IsEnum)
        {
            return $"{type.Name} (one of {string.Join(", ", Enum.GetNames(type))})";
        }

        return type == typeof(int) || type == typeof(long) ? "whole number" : type == typeof(double) ? "number" : type.Name;
    }

    private static bool IsScalar(Type type)
        => type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
           || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Guid) || type == typeof(Uri);

    private static Type? DictionaryValueType(Type type)
    {
        foreach (var i in type.IsInterface ? type.GetInterfaces().Append(type) : type.GetInterfaces())
        {
            if (i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>) && i.GetGenericArguments()[0] == typeof(string))
            {
                return i.GetGenericArguments()[1];
            }
        }

        return null;
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (!typeof(IEnumerable).IsAssignableFrom(type))
        {
            return null;
        }

        foreach (var i in type.IsInterface ? type.GetInterfaces().Append(type) : type.GetInterfaces())
        {
            if (i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            {
                return i.GetGenericArguments()[0];
            }
        }

        return null;
    }
}
